import { Link } from "react-router";
import { items, request } from "../api";
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

async function loadProjects(): Promise<{ project: Project; worklists: Worklist[] }[]> {
  const projects = items<Project>(await request("/projects", { query: { limit: 500 } }));
  return Promise.all(projects.map(async (project) => ({
    project,
    worklists: await request<Worklist[]>(`/projects/${project.id}/worklists`),
  })));
}

export function Home() {
  const { data, error, loading } = useLoad(loadProjects, []);
  return (
    <Layout title="Projects">
      <ErrorNote error={error} />
      {loading && !data && <p className="muted">Loading projects…</p>}
      {data && data.length === 0 && (
        <p className="muted" data-testid="no-projects">You are not a member of any project yet: ask a project
          manager to add you.</p>
      )}
      <ul className="projects">
        {data?.map(({ project, worklists }) => (
          <li key={project.id} className="card" data-testid="project">
            <h2>{project.name}</h2>
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
