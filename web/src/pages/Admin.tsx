// Administration: users and their roles, invitations, API keys, and the audit trail.
import { useState, type FormEvent } from "react";
import { items, request } from "../api";
import { DataTable } from "../components/DataTable";
import { ErrorNote, Layout } from "../components/Layout";
import { useLoad } from "../hooks";
import type { Project } from "./Home";
import { ApiKeys } from "./Account";

function Users() {
  const users = useLoad(async () => items<any>(await request("/users", { query: { limit: 1000 } })), []);
  const [error, setError] = useState<string | null>(null);
  const [keysOf, setKeysOf] = useState<string | null>(null);
  async function setRole(email: string, admin: boolean) {
    setError(null);
    try { await request(`/users/${encodeURIComponent(email)}`, { method: "PATCH", json: { roles: [admin ? "admin" : "member"] } }); users.reload(); }
    catch (e) { setError(e instanceof Error ? e.message : String(e)); }
  }
  return (
    <section className="card">
      <h2>Users</h2>
      <ErrorNote error={users.error ?? error} />
      <table className="list" data-testid="users">
        <thead><tr><th>Email</th><th>Name</th><th>Role</th><th /></tr></thead>
        <tbody>
          {users.data?.map((u) => (
            <tr key={u.id} data-testid="user-row">
              <td>{u.email}</td><td>{[u.firstname, u.lastname].filter(Boolean).join(" ")}</td>
              <td><select aria-label={`Role of ${u.email}`} value={u.roles.includes("admin") ? "admin" : "member"}
                onChange={(e) => setRole(u.email, e.target.value === "admin")} style={{ width: 120 }}>
                <option value="member">member</option><option value="admin">admin</option></select></td>
              <td><button className="link" onClick={() => setKeysOf(keysOf === u.email ? null : u.email)}>API keys</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      {keysOf && <div className="subcard"><h3>API keys of {keysOf}</h3><ApiKeys base={`/users/${encodeURIComponent(keysOf)}/api-keys`} /></div>}
    </section>
  );
}

function Invitations() {
  const open = useLoad(() => request<any[]>("/users/invitations"), []);
  const projects = useLoad(async () => items<Project>(await request("/projects", { query: { limit: 500 } })), []);
  const [email, setEmail] = useState("");
  const [projectId, setProjectId] = useState("");
  const [role, setRole] = useState("PROJECT_ANNOTATOR");
  const [link, setLink] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function invite(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      const answer = await request<{ invitation_link: string }>("/users/invite", { json: {
        email, ...(projectId ? { project_id: projectId, project_roles: [role] } : {}) } });
      setLink(answer.invitation_link);
      setEmail("");
      open.reload();
    } catch (err) { setError(err instanceof Error ? err.message : String(err)); }
  }
  async function revoke(address: string) {
    try { await request(`/users/invitations/${encodeURIComponent(address)}/revoke`, { method: "DELETE" }); open.reload(); }
    catch (err) { setError(err instanceof Error ? err.message : String(err)); }
  }
  return (
    <section className="card">
      <h2>Invitations</h2>
      <form className="row" onSubmit={invite} aria-label="Invite">
        <input aria-label="Invitee email" type="email" required placeholder="email" value={email}
          onChange={(e) => setEmail(e.target.value)} style={{ width: 240 }} />
        <select aria-label="Invite into project" value={projectId} onChange={(e) => setProjectId(e.target.value)}
          style={{ width: 200 }}>
          <option value="">no project</option>
          {projects.data?.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}</select>
        {projectId && <select aria-label="Project role" value={role} onChange={(e) => setRole(e.target.value)} style={{ width: 200 }}>
          <option>PROJECT_ANNOTATOR</option><option>PROJECT_REVIEWER</option><option>PROJECT_MANAGER</option></select>}
        <button type="submit">Invite</button>
      </form>
      {link && <p>Send this link to the invitee (no email is sent; it is shown once):
        <span className="keybox" data-testid="invitation-link">{link}</span></p>}
      <ErrorNote error={open.error ?? error} />
      <table className="list"><thead><tr><th>Email</th><th>Project</th><th>Expires</th><th /></tr></thead>
        <tbody>{open.data?.map((i) => (
          <tr key={i.id}><td>{i.email}</td><td>{i.project_id ?? ""}</td><td>{i.expires_at}</td>
            <td><button className="link" onClick={() => revoke(i.email)}>revoke</button></td></tr>))}</tbody></table>
    </section>
  );
}

function Audit() {
  const [filters, setFilters] = useState({ user: "", action: "", entity_type: "" });
  const [applied, setApplied] = useState(filters);
  const events = useLoad(async () => items<any>(await request("/audit-events", { query: {
    limit: 100, ...Object.fromEntries(Object.entries(applied).filter(([, v]) => v)) } })), [applied]);
  return (
    <section className="card">
      <h2>Audit trail</h2>
      <form className="row" onSubmit={(e) => { e.preventDefault(); setApplied(filters); }}>
        {(["user", "action", "entity_type"] as const).map((k) => (
          <input key={k} aria-label={`Filter by ${k}`} placeholder={k.replace("_", " ")} value={filters[k]}
            onChange={(e) => setFilters({ ...filters, [k]: e.target.value })} style={{ width: 180 }} />))}
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={events.error} />
      <DataTable testid="audit" rows={events.data ?? []}
        columns={["at", "user_email", "action", "entity_type", "entity_id", "status"]} />
    </section>
  );
}

export function AdminPage() {
  return (
    <Layout title="Administration">
      <Users />
      <Invitations />
      <Audit />
    </Layout>
  );
}
