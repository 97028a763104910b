// A project for its manager: files (drag-and-drop upload with progress), worklists (labels,
// segmentation group, annotators), statistics, members.
import { useState, type DragEvent, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { items, request, upload } from "../api";
import { ErrorNote, Layout } from "../components/Layout";
import { DataTable } from "../components/DataTable";
import { useLoad } from "../hooks";
import type { Project, Worklist } from "./Home";
import type { Resource } from "./Worklist";

const SPEC_TYPES = ["square", "line", "point", "region", "category", "label", "text", "integer", "float"];
const ROLES = ["PROJECT_ANNOTATOR", "PROJECT_REVIEWER", "PROJECT_MANAGER"];
const PALETTE = [[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240]];

interface Upload { name: string; progress: number; error?: string; done?: boolean; note?: string }

function randomKey(): string {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a file is DICOM: the "DICM" magic after the 128-byte preamble, or a .dcm name. */
async function isDicom(file: File): Promise<boolean> {
  if (/\.dcm$/i.test(file.name)) return true;
  const magic = new Uint8Array(await file.slice(128, 132).arrayBuffer());
  return String.fromCharCode(...magic) === "DICM";
}

/** Every file of a drop, folders walked through (a dropped folder is a DataTransfer entry). */
async function droppedFiles(transfer: DataTransfer): Promise<File[]> {
  const entries = Array.from(transfer.items ?? []).map((item) => item.webkitGetAsEntry?.() ?? null);
  if (!entries.some((e) => e?.isDirectory)) return Array.from(transfer.files);
  const out: File[] = [];
  async function walk(entry: FileSystemEntry): Promise<void> {
    if (entry.isFile) {
      out.push(await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject)));
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) { // readEntries answers in batches until an empty one
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  }
  for (const entry of entries) if (entry) await walk(entry);
  return out;
}

function Files({ project, onChange }: { project: Project; onChange: () => void }) {
  const { data: resources, error, reload } = useLoad(() => request<Resource[]>(`/projects/${project.id}/resources`),
    [project.id]);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [over, setOver] = useState(false);
  const [anonymize, setAnonymize] = useState(true);
  const [assemble, setAssemble] = useState(true);

  function fields(form: FormData, key: string) {
    form.append("source", "webapp");
    form.append("bypass_inbox", "true");
    form.append("project_id", project.id);
    if (anonymize) { form.append("anonymize", "true"); form.append("anonymize_key", key); }
  }

  async function send(files: File[]) {
    const key = randomKey(); // one key per batch: replaced UIDs of a series still group
    const kinds = await Promise.all(files.map(isDicom));
    const dicoms = assemble ? files.filter((_, i) => kinds[i]) : [];
    const singles = assemble ? files.filter((_, i) => !kinds[i]) : files;
    // the DICOM files go together: the server assembles each series into one resource, as the SDK does
    const batches: { name: string; files: File[] }[] = [
      ...(dicoms.length ? [{ name: `${dicoms.length} DICOM file${dicoms.length > 1 ? "s" : ""}`, files: dicoms }] : []),
      ...singles.map((f) => ({ name: f.name, files: [f] })),
    ];
    const start = uploads.length;
    setUploads((u) => [...u, ...batches.map((b) => ({ name: b.name, progress: 0 }))]);
    const set = (i: number, patch: Partial<Upload>) =>
      setUploads((u) => u.map((x, j) => (j === start + i ? { ...x, ...patch } : x)));
    for (let i = 0; i < batches.length; i++) {
      const form = new FormData();
      fields(form, key);
      const series = batches[i].files === dicoms;
      for (const f of batches[i].files) form.append(series ? "resources" : "resource", f, f.name);
      try {
        const answer = await upload(series ? "/resources/series" : "/resources", form, (p) => set(i, { progress: p }));
        const note = series ? (answer as { filename: string; instances: number }[])
          .map((r) => `${r.filename} (${r.instances} slice${r.instances > 1 ? "s" : ""})`).join(", ") : undefined;
        set(i, { done: true, progress: 1, note });
      } catch (e) {
        set(i, { error: e instanceof Error ? e.message : String(e) });
      }
    }
    reload();
    onChange();
  }

  async function drop(e: DragEvent) {
    e.preventDefault();
    setOver(false);
    send(await droppedFiles(e.dataTransfer));
  }

  return (
    <section className="card">
      <h2>Files</h2>
      <div className={`dropzone ${over ? "over" : ""}`} data-testid="dropzone" onDrop={drop}
        onDragOver={(e) => { e.preventDefault(); setOver(true); }} onDragLeave={() => setOver(false)}>
        Drop DICOM, NIfTI, images or videos (or folders of them) here, or
        <label className="inline file">choose files<input type="file" multiple hidden
          onChange={(e) => send(Array.from(e.target.files ?? []))} /></label> or
        <label className="inline file">a folder<input type="file" multiple hidden data-testid="folder-input"
          {...{ webkitdirectory: "" }} onChange={(e) => send(Array.from(e.target.files ?? []))} /></label>
      </div>
      <label className="inline"><input type="checkbox" checked={assemble} onChange={(e) => setAssemble(e.target.checked)} />
        One resource per DICOM series (the slices are assembled into one multi-frame file, as the SDK does)</label>
      <label className="inline"><input type="checkbox" checked={anonymize} onChange={(e) => setAnonymize(e.target.checked)} />
        De-identify DICOM files on upload (DICOM PS3.15 basic profile, as the SDK does)</label>
      <ul className="uploads" data-testid="uploads">
        {uploads.map((u, i) => (
          <li key={i} data-testid="upload" data-done={!!u.done}>
            {u.name} <progress max={1} value={u.progress} aria-label={`Upload of ${u.name}`} />
            {u.done && <span className="badge approved">uploaded</span>}
            {u.note && <span className="muted small" data-testid="upload-note"> → {u.note}</span>}
            {u.error && <span className="error">{u.error}</span>}
          </li>
        ))}
      </ul>
      <ErrorNote error={error} />
      <DataTable testid="files" rows={resources ?? []} columns={["filename", "modality", "mimetype", "created_at"]} />
    </section>
  );
}

interface SpecRow { type: string; identifier: string; scope: string; values: string }

function NewWorklist({ project, onCreated }: { project: Project; onCreated: () => void }) {
  const [name, setName] = useState("");
  const [annotators, setAnnotators] = useState("");
  const [specs, setSpecs] = useState<SpecRow[]>([{ type: "square", identifier: "", scope: "frame", values: "" }]);
  const [segments, setSegments] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const resources = await request<Resource[]>(`/projects/${project.id}/resources`);
      const labels = segments.split(",").map((s) => s.trim()).filter(Boolean);
      await request("/annotationsets", { json: {
        name, project_id: project.id, resource_ids: resources.map((r) => r.id),
        annotators: annotators.split(",").map((s) => s.trim()).filter(Boolean),
        annotations: specs.filter((s) => s.identifier.trim()).map((s) => ({
          type: s.type, identifier: s.identifier.trim(), scope: s.scope,
          ...(s.type === "category" ? { values: s.values.split(",").map((v) => v.trim()).filter(Boolean) } : {}),
        })),
        ...(labels.length ? { segmentation_data: { segmentationValueType: "single_label",
          definitions: labels.map((identifier, i) => ({ identifier, color: PALETTE[i % PALETTE.length], index: i + 1 })) } }
          : {}),
      } });
      setName(""); setAnnotators(""); setSegments("");
      setSpecs([{ type: "square", identifier: "", scope: "frame", values: "" }]);
      onCreated();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  const setSpec = (i: number, patch: Partial<SpecRow>) => setSpecs(specs.map((s, j) => (j === i ? { ...s, ...patch } : s)));
  return (
    <form onSubmit={submit} className="subcard" aria-label="New worklist">
      <h3>New worklist (all files of the project)</h3>
      <label>Name<input required value={name} onChange={(e) => setName(e.target.value)} /></label>
      <label>Annotators (emails, comma-separated)<input value={annotators} onChange={(e) => setAnnotators(e.target.value)} />
      </label>
      <div className="specs">
        {specs.map((s, i) => (
          <div className="row" key={i} data-testid="spec-row">
            <select aria-label="Label type" value={s.type} onChange={(e) => setSpec(i, { type: e.target.value })}>
              {SPEC_TYPES.map((t) => <option key={t}>{t}</option>)}</select>
            <input aria-label="Label name" placeholder="label" value={s.identifier}
              onChange={(e) => setSpec(i, { identifier: e.target.value })} />
            <select aria-label="Label scope" value={s.scope} onChange={(e) => setSpec(i, { scope: e.target.value })}>
              <option value="frame">per frame</option><option value="image">per image</option></select>
            {s.type === "category" && <input aria-label="Category values" placeholder="values, comma-separated"
              value={s.values} onChange={(e) => setSpec(i, { values: e.target.value })} />}
          </div>
        ))}
        <button type="button" onClick={() => setSpecs([...specs, { type: "square", identifier: "", scope: "frame",
          values: "" }])}>Add a label</button>
      </div>
      <label>Segmentation labels (comma-separated; colours are assigned in order)
        <input value={segments} onChange={(e) => setSegments(e.target.value)} /></label>
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>Create worklist</button>
    </form>
  );
}

function Worklists({ project }: { project: Project }) {
  const { data, error, reload } = useLoad(() => request<Worklist[]>(`/projects/${project.id}/worklists`), [project.id]);
  const [open, setOpen] = useState<string | null>(null);
  const stats = useLoad(async () => open ? {
    annotators: await request<any[]>(`/annotationsets/${open}/annotators-statistic`),
    labels: await request<any[]>(`/annotationsets/${open}/annotations-statistic`),
  } : null, [open]);
  return (
    <section className="card">
      <h2>Worklists</h2>
      <ErrorNote error={error} />
      <table className="list" data-testid="worklists">
        <thead><tr><th>Name</th><th>Files</th><th>Annotators</th><th>Labels</th><th /></tr></thead>
        <tbody>
          {data?.map((w) => (
            <tr key={w.id}>
              <td><Link to={`/app/worklists/${w.id}`}>{w.name}</Link></td>
              <td>{w.resource_count}</td>
              <td>{w.annotators.map((a) => a.email).join(", ")}</td>
              <td>{[...w.annotations.map((s: any) => s.identifier), ...Object.keys(w.segmentation_group ?? {})].join(", ")}</td>
              <td><button className="link" onClick={() => setOpen(open === w.id ? null : w.id)}>Statistics</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      {open && stats.data && (
        <div className="subcard" data-testid="statistics">
          <h3>Annotators</h3>
          <DataTable rows={stats.data.annotators} columns={["email", "total_resources", "not_started", "opened",
            "annotated", "revision_request", "approved", "annotations", "last_annotation_at"]} />
          <h3>Labels</h3>
          <DataTable rows={stats.data.labels} />
        </div>
      )}
      <NewWorklist project={project} onCreated={reload} />
    </section>
  );
}

function Members({ project }: { project: Project }) {
  const members = useLoad(() => request<any[]>(`/projects/${project.id}/members`), [project.id]);
  const users = useLoad(async () => items<any>(await request("/users", { query: { limit: 1000 } })), []);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState(ROLES[0]);
  const [error, setError] = useState<string | null>(null);
  const byId = new Map((users.data ?? []).map((u) => [u.id, u.email]));

  async function add(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const user = (users.data ?? []).find((u) => u.email.toLowerCase() === email.trim().toLowerCase());
    if (!user) { setError(`No user ${email} in your organization: invite them first`); return; }
    try {
      await request(`/projects/${project.id}/members/${user.id}`, { json: { roles: [role] } });
      setEmail("");
      members.reload();
    } catch (err) { setError(err instanceof Error ? err.message : String(err)); }
  }

  async function remove(userId: string) {
    try { await request(`/projects/${project.id}/members/${userId}`, { method: "DELETE" }); members.reload(); }
    catch (err) { setError(err instanceof Error ? err.message : String(err)); }
  }

  return (
    <section className="card">
      <h2>Members</h2>
      <ErrorNote error={members.error ?? error} />
      <table className="list" data-testid="members">
        <thead><tr><th>User</th><th>Roles</th><th /></tr></thead>
        <tbody>
          {members.data?.map((m) => (
            <tr key={m.user_id}><td>{byId.get(m.user_id) ?? m.user_id}</td><td>{m.roles.join(", ")}</td>
              <td><button className="link" onClick={() => remove(m.user_id)}>remove</button></td></tr>
          ))}
        </tbody>
      </table>
      <form className="row" onSubmit={add}>
        <input aria-label="Member email" placeholder="email" list="org-users" value={email}
          onChange={(e) => setEmail(e.target.value)} style={{ width: 260 }} />
        <datalist id="org-users">{users.data?.map((u) => <option key={u.id} value={u.email} />)}</datalist>
        <select aria-label="Member role" value={role} onChange={(e) => setRole(e.target.value)} style={{ width: 220 }}>
          {ROLES.map((r) => <option key={r}>{r}</option>)}</select>
        <button type="submit">Add member</button>
      </form>
    </section>
  );
}

export function ProjectPage() {
  const { projectId = "" } = useParams();
  const { data: project, error, reload } = useLoad(() => request<Project>(`/projects/${projectId}`), [projectId]);
  return (
    <Layout title={project ? `Project ${project.name}` : "Project"}>
      <ErrorNote error={error} />
      {project && (
        <>
          {project.description && <p className="muted">{project.description}</p>}
          <Files project={project} onChange={reload} />
          <Worklists project={project} />
          <Members project={project} />
        </>
      )}
    </Layout>
  );
}
