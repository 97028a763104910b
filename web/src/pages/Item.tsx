import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { request } from "../api";
import { ErrorNote, Layout } from "../components/Layout";
import { useLoad } from "../hooks";
import type { SliceGeometry } from "../viewer/loader";
import { Viewer } from "../viewer/Viewer";
import type { Resource } from "./Worklist";

export function ItemPage() {
  const { worklistId = "", resourceId = "" } = useParams();
  const { data, error } = useLoad(async () => {
    const [resource, geometry] = await Promise.all([
      request<Resource>(`/resources/${resourceId}`),
      request<SliceGeometry>(`/resources/${resourceId}/slices`),
    ]);
    return { resource, geometry };
  }, [resourceId]);
  const [slice, setSlice] = useState(0);
  useEffect(() => setSlice(0), [resourceId]);

  return (
    <Layout wide title={<><Link to={`/app/worklists/${worklistId}`}>Worklist</Link> / {data?.resource.filename ?? "…"}</>}>
      <ErrorNote error={error} />
      {data && (
        <Viewer key={resourceId} resourceId={resourceId} geometry={data.geometry}
          onSlice={(plane, index) => plane === "axial" && setSlice(index)} />
      )}
      <span hidden data-testid="current-slice">{slice}</span>
    </Layout>
  );
}
