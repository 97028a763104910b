import io, zipfile, json
from dataset_samples import build_sample

def test_smoke(api, tmp_path):
    s = build_sample(api, tmp_path / "s")
    ds = api.datasets.get_by_id(s.dataset_id)
    print(ds)
    v = api.datasets.create_version(ds, description="first")
    print(v)
    m = api.datasets.get_manifest(ds, "latest")
    print(json.dumps(m["label_schema"], indent=1)[:1500])
    print(len(m["resources"]), len(m["annotations"]))
    print(m["annotations"][0])
    for fmt in ("dicom", "nifti", "png", "npy"):
        p = api.datasets.download(ds, tmp_path / f"a-{fmt}.zip", format=fmt, version="v1", progress_bar=False)
        with zipfile.ZipFile(p) as z:
            print(fmt, z.namelist()[:8], len(z.namelist()))
            assert z.testzip() is None
