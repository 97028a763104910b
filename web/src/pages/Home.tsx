import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { items, request } from "../api";
import { isAdmin, useAuth } from "../auth";
import { ErrorNote, Layout } from "../components/Layout";
import { useLoad } from "../hooks";

export interface Worklist {
  id: string;
  name: string;
  description: string | null;
  project_id: string | null;
  resource_ids: string[];
  resource_count: number;
  annotators: { email: string; user_id: string }[];
  annotations: any[];
  segmentation_group: Record<string, { color: number[]; index: number }>;
  is_project_default: boolean;
}

export interface Project {
  id: string;
  name: string;
  description: string | null;
  resource_count: number;
  archived: boolean;
  worklist_id: string | null;
}

async function loadProjects(userId: string): Promise<{ project: Project; worklists: Worklist[]; roles: string[] }[]> {
  const projects = items<Project>(await request("/projects", { query: { limit: 500 } }));
  return Promise.all(projects.map(async (project) => {
    const [worklists, members] = await Promise.all([
      request<Worklist[]>(`/projects/${project.id}/worklists`),
      request<{ user_id: string; roles: string[] }[]>(`/projects/${project.id}/members`).catch(() => []),
    ]);
    return { project, worklists, roles: members.find((m) => m.user_id === userId)?.roles ?? [] };
  }));
}

function NewProject() {
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      const created = await request<Project>("/projects", { json: { name, description } });
      navigate(`/app/projects/${created.id}`);
    } catch (err) { setError(err instanceof Error ? err.message : String(err)); }
  }
  if (!open) return <p><button onClick={() => setOpen(true)}>New project</button></p>;
  return (
    <form className="card" onSubmit={submit} aria-label="New project">
      <h2>New project</h2>
      <label>Name<input required value={name} onChange={(e) => setName(e.target.value)} /></label>
      <label>Description<input value={description} onChange={(e) => setDescription(e.target.value)} /></label>
      <ErrorNote error={error} />
      <div className="row"><button type="submit">Create project</button>
        <button type="button" onClick={() => setOpen(false)}>Cancel</button></div>
    </form>
  );
}

export function Home() {
  const { user } = useAuth();
  const { data, error, loading } = useLoad(() => loadProjects(user?.id ?? ""), [user?.id]);
  return (
    <Layout title="Projects">
      <NewProject />
      <ErrorNote error={error} />
      {loading && !data && <p className="muted">Loading projects…</p>}
      {data && data.length === 0 && (
        <p className="muted" data-testid="no-projects">You are not a member of any project yet: ask a project
          manager to add you.</p>
      )}
      <ul className="projects">
        {data?.map(({ project, worklists, roles }) => (
          <li key={project.id} className="card" data-testid="project">
            <h2>{project.name}</h2>
            {(isAdmin(user) || roles.includes("PROJECT_MANAGER")) && (
              <Link to={`/app/projects/${project.id}`}>Manage files, worklists and members</Link>)}
            {project.description && <p className="muted">{project.description}</p>}
            <p className="muted">{project.resource_count} file(s)</p>
            <table className="list">
              <thead><tr><th>Worklist</th><th>Files</th><th>Annotators</th><th /></tr></thead>
              <tbody>
                {worklists.map((w) => (
                  <tr key={w.id} data-testid="worklist">
                    <td>{w.name}</td>
                    <td>{w.resource_count}</td>
                    <td>{w.annotators.length}</td>
                    <td><Link to={`/app/worklists/${w.id}`}>Open</Link></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </li>
        ))}
      </ul>
    </Layout>
  );
}
