// The signed-in user's account: API keys (created once, listed by prefix, revocable).
import { useState, type FormEvent } from "react";
import { request } from "../api";
import { DataTable } from "../components/DataTable";
import { ErrorNote, Layout } from "../components/Layout";
import { useLoad } from "../hooks";

export function ApiKeys({ base }: { base: string }) {
  const keys = useLoad(() => request<any[]>(base), [base]);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function create(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      const answer = await request<any>(base, { json: { name: name || null } });
      setCreated(typeof answer === "string" ? answer : answer.key ?? answer.api_key);
      setName("");
      keys.reload();
    } catch (err) { setError(err instanceof Error ? err.message : String(err)); }
  }
  async function revoke(id: string) {
    try { await request(`${base}/${id}`, { method: "DELETE" }); keys.reload(); }
    catch (err) { setError(err instanceof Error ? err.message : String(err)); }
  }
  return (
    <div>
      <ErrorNote error={keys.error ?? error} />
      <DataTable testid="api-keys" rows={(keys.data ?? []).map((k) => ({ ...k, revoked: k.revoked ? "revoked" : "" }))}
        columns={["name", "prefix", "created_at", "last_used_at", "revoked"]} />
      <div className="row">
        {(keys.data ?? []).filter((k) => !k.revoked).map((k) => (
          <button key={k.id} className="link" onClick={() => revoke(k.id)}>Revoke {k.prefix}…</button>))}
      </div>
      <form className="row" onSubmit={create}>
        <input aria-label="Key name" placeholder="key name, e.g. laptop" value={name} onChange={(e) => setName(e.target.value)}
          style={{ width: 240 }} />
        <button type="submit">Create API key</button>
      </form>
      {created && <p>The new key (shown once: copy it now): <span className="keybox" data-testid="new-key">{created}</span></p>}
    </div>
  );
}

export function AccountPage() {
  return (
    <Layout title="My account">
      <section className="card"><h2>API keys</h2><ApiKeys base="/users/me/api-keys" /></section>
    </Layout>
  );
}
