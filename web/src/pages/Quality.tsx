// Label quality of a project (docs/quality.md): label sets, label statuses, issues (close/reopen),
// time spent, and the agreement between the readers of multi-reader worklists.
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { request } from "../api";
import { DataTable } from "../components/DataTable";
import { ErrorNote, Layout } from "../components/Layout";
import { useLoad } from "../hooks";
import type { Project, Worklist } from "./Home";

const STATUSES = ["", "unlabeled", "prelabeled", "labeled", "reviewed", "rejected", "skipped", "verified"];

interface LabelSet { name: string; kind: string; description: string; annotation_count: number }
interface Issue { id: string; description: string; status: string; resource_id: string; frame_index: number | null;
  created_by: string; comments: unknown[] }

function LabelSets({ project, sets, reload }: { project: Project; sets: LabelSet[]; reload: () => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<string | null>(null);

  async function add(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      await request(`/projects/${project.id}/labelsets`, { json: { name, description } });
      setName(""); setDescription("");
      reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }

  return (
    <section className="card">
      <h2>Label sets</h2>
      <DataTable testid="label-sets" rows={sets as any[]} columns={["name", "kind", "description", "annotation_count"]} />
      <form onSubmit={add} className="row" aria-label="New label set">
        <input aria-label="Label set name" placeholder="second-opinion" required value={name}
          onChange={(e) => setName(e.target.value)} />
        <input aria-label="Label set description" placeholder="what it holds" value={description}
          onChange={(e) => setDescription(e.target.value)} />
        <button type="submit">Add label set</button>
      </form>
      <ErrorNote error={error} />
    </section>
  );
}

function Statuses({ project, sets }: { project: Project; sets: LabelSet[] }) {
  const [labelSet, setLabelSet] = useState("ground-truth");
  const [status, setStatus] = useState("");
  const { data, error } = useLoad(() => request<any[]>(`/projects/${project.id}/label-statuses`,
    { query: { label_set: labelSet, status: status || undefined } }), [project.id, labelSet, status]);
  return (
    <section className="card">
      <h2>Label status</h2>
      <div className="row">
        <select aria-label="Label set" value={labelSet} onChange={(e) => setLabelSet(e.target.value)}>
          {sets.map((s) => <option key={s.name}>{s.name}</option>)}</select>
        <select aria-label="Status" value={status} onChange={(e) => setStatus(e.target.value)}>
          {STATUSES.map((s) => <option key={s} value={s}>{s || "any status"}</option>)}</select>
      </div>
      <ErrorNote error={error} />
      <DataTable testid="label-statuses" rows={data ?? []} columns={["filename", "status", "updated_by", "updated_at"]} />
    </section>
  );
}

function Issues({ project }: { project: Project }) {
  const [status, setStatus] = useState("open");
  const { data, error, reload } = useLoad(() => request<Issue[]>(`/projects/${project.id}/issues`,
    { query: { status: status || undefined } }), [project.id, status]);
  const [failure, setFailure] = useState<string | null>(null);

  async function toggle(issue: Issue) {
    setFailure(null);
    try {
      await request(`/issues/${issue.id}`, { method: "PATCH",
        json: { status: issue.status === "open" ? "closed" : "open" } });
      reload();
    } catch (err) {
      setFailure(err instanceof Error ? err.message : String(err));
    }
  }

  return (
    <section className="card">
      <h2>Issues</h2>
      <select aria-label="Issue status" value={status} onChange={(e) => setStatus(e.target.value)}>
        <option value="open">open</option><option value="closed">closed</option><option value="">all</option>
      </select>
      <ErrorNote error={error ?? failure} />
      {data && data.length === 0 && <p className="muted small">No issues.</p>}
      <ul className="issues" data-testid="issues">
        {(data ?? []).map((issue) => (
          <li key={issue.id} data-testid="issue" data-status={issue.status}>
            <span className={`badge ${issue.status}`}>{issue.status}</span> {issue.description}
            {issue.frame_index !== null && <span className="muted small"> (frame {issue.frame_index})</span>}
            <span className="muted small"> by {issue.created_by}, {issue.comments.length} comment(s)</span>{" "}
            <button className="link" onClick={() => toggle(issue)}>{issue.status === "open" ? "Close" : "Reopen"}</button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function TimeSpent({ project }: { project: Project }) {
  const { data, error } = useLoad(() => request<any>(`/projects/${project.id}/workunits-statistic`), [project.id]);
  return (
    <section className="card">
      <h2>Time spent</h2>
      <ErrorNote error={error} />
      {data && <p data-testid="time-total">{Math.round(data.total_seconds)} s in {data.units} workunit(s)</p>}
      <h3>By user</h3>
      <DataTable testid="time-by-user" rows={data?.by_user ?? []} columns={["email", "seconds", "units"]} />
      <h3>By label</h3>
      <DataTable testid="time-by-label" columns={["label", "seconds", "units"]}
        rows={(data?.by_label ?? []).map((r: any) => ({ ...r, label: r.label ?? "(no label)" }))} />
    </section>
  );
}

function Agreement({ worklist }: { worklist: Worklist & { readers_per_item?: number } }) {
  const [report, setReport] = useState<any>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function compute() {
    setBusy(true);
    setError(null);
    try {
      setReport(await request(`/annotationsets/${worklist.id}/agreement`));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="subcard" data-testid="agreement">
      <h3>{worklist.name} ({worklist.readers_per_item} readers per item)</h3>
      <button onClick={compute} disabled={busy}>{busy ? "Comparing readers…" : "Compute agreement"}</button>
      <ErrorNote error={error} />
      {report && <>
        <p className="small">{report.items} complete item(s), readers: {report.readers.join(", ") || "none yet"}</p>
        <DataTable testid="agreement-by-label" rows={report.summary.by_label}
          columns={["kind", "label", "pairs", "mean_dice", "mean_hd95_mm", "mean_iou", "cohen_kappa", "fleiss_kappa"]} />
      </>}
    </div>
  );
}

export function QualityPage() {
  const { projectId } = useParams();
  const { data: project, error } = useLoad(() => request<Project>(`/projects/${projectId}`), [projectId]);
  const sets = useLoad(() => request<LabelSet[]>(`/projects/${projectId}/labelsets`), [projectId]);
  const worklists = useLoad(() => request<any[]>(`/projects/${projectId}/worklists`), [projectId]);
  const multi = (worklists.data ?? []).filter((w) => (w.readers_per_item ?? 1) > 1);
  return (
    <Layout title={project ? `Quality of ${project.name}` : "Quality"} wide>
      <ErrorNote error={error ?? sets.error} />
      {project && <>
        <p><Link to={`/app/projects/${project.id}`}>Back to the project</Link></p>
        <LabelSets project={project} sets={sets.data ?? []} reload={sets.reload} />
        <Statuses project={project} sets={sets.data ?? []} />
        <Issues project={project} />
        <TimeSpent project={project} />
        <section className="card">
          <h2>Agreement between readers</h2>
          {multi.length === 0 && <p className="muted small">No worklist of this project asks for several readers.</p>}
          {multi.map((w) => <Agreement key={w.id} worklist={w} />)}
        </section>
      </>}
    </Layout>
  );
}
