import { Link, useNavigate, useParams } from "react-router";
import { request } from "../api";
import { useAuth } from "../auth";
import { ErrorNote, Layout } from "../components/Layout";
import { useLoad } from "../hooks";
import type { Worklist } from "./Home";

export interface Resource {
  id: string;
  filename: string;
  mimetype: string;
  modality: string | null;
  frame_count?: number;
}

export interface WorkStatus {
  resource_id: string;
  email: string;
  status: string;
}

/** Work statuses that mean an annotator is done with an item (until a reviewer asks for a revision). */
export const DONE = new Set(["annotated", "closed", "approved"]);

export async function loadWorklist(worklistId: string): Promise<{
  worklist: Worklist; resources: Resource[]; statuses: WorkStatus[];
}> {
  const worklist = await request<Worklist>(`/annotationsets/${worklistId}`);
  const [resources, statuses] = await Promise.all([
    worklist.project_id
      ? request<Resource[]>(`/projects/${worklist.project_id}/resources`)
      : Promise.all(worklist.resource_ids.slice(0, 500).map((id) => request<Resource>(`/resources/${id}`))),
    request<WorkStatus[]>(`/annotationsets/${worklistId}/annotation-statuses`),
  ]);
  const order = new Map(worklist.resource_ids.map((id, i) => [id, i]));
  const inList = resources.filter((r) => order.has(r.id)).sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  return { worklist, resources: inList, statuses };
}

/** The first item of the worklist that the user has not finished. */
export function nextItem(resources: Resource[], statuses: WorkStatus[], email: string, after?: string): Resource | undefined {
  const mine = new Map(statuses.filter((s) => s.email === email).map((s) => [s.resource_id, s.status]));
  const start = after ? resources.findIndex((r) => r.id === after) + 1 : 0;
  const open = (r: Resource) => !DONE.has(mine.get(r.id) ?? "");
  return resources.slice(start).find(open) ?? resources.slice(0, start).find(open);
}

export function WorklistPage() {
  const { worklistId = "" } = useParams();
  const { user } = useAuth();
  const navigate = useNavigate();
  const { data, error } = useLoad(() => loadWorklist(worklistId), [worklistId]);
  const next = data && user ? nextItem(data.resources, data.statuses, user.email) : undefined;
  const annotates = !!data?.worklist.annotators.some((a) => a.email === user?.email);
  const toReview = data?.resources.find((r) => data.statuses.some((s) => s.resource_id === r.id
    && s.status === "annotated"));
  const statusesOf = (rid: string) => data?.statuses.filter((s) => s.resource_id === rid) ?? [];

  return (
    <Layout title={data?.worklist.name ?? "Worklist"}>
      <ErrorNote error={error} />
      {data && (
        <>
          {data.worklist.description && <p className="muted">{data.worklist.description}</p>}
          <div className="row">
            {annotates && (
              <button className="primary" disabled={!next}
                onClick={() => next && navigate(`/app/worklists/${worklistId}/items/${next.id}`)}>
                {next ? "Next item" : "All items done"}
              </button>
            )}
            {!annotates && (
              <button className="primary" disabled={!toReview}
                onClick={() => toReview && navigate(`/app/worklists/${worklistId}/items/${toReview.id}`)}>
                {toReview ? "Next to review" : "Nothing waiting for review"}
              </button>
            )}
            <span className="muted">{data.resources.length} item(s)</span>
          </div>
          <table className="list" data-testid="items">
            <thead><tr><th>File</th><th>Modality</th><th>Status</th><th /></tr></thead>
            <tbody>
              {data.resources.map((r) => (
                <tr key={r.id} data-testid="item">
                  <td>{r.filename}</td>
                  <td>{r.modality ?? r.mimetype}</td>
                  <td>{statusesOf(r.id).map((s) => (
                    <span key={s.email} className={`badge ${s.status}`} title={s.email}>
                      {s.email === user?.email ? s.status : `${s.email}: ${s.status}`}</span>
                  ))}</td>
                  <td><Link to={`/app/worklists/${worklistId}/items/${r.id}`}>Open</Link></td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Layout>
  );
}
