import { useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router";
import { useAuth } from "../auth";
import { ErrorNote } from "../components/Layout";

export function SignIn() {
  const { signIn } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [mode, setMode] = useState<"password" | "key">("password");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = new URLSearchParams(location.search).get("next");

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(mode === "password" ? { email, password } : { api_key: apiKey });
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="signin">
      <form onSubmit={submit} className="card">
        <h1>Sign in to Datamint</h1>
        <div className="tabs">
          <button type="button" className={mode === "password" ? "active" : ""} onClick={() => setMode("password")}>
            Email and password</button>
          <button type="button" className={mode === "key" ? "active" : ""} onClick={() => setMode("key")}>
            API key</button>
        </div>
        {mode === "password" ? (
          <>
            <label>Email<input name="email" type="email" autoComplete="username" required value={email}
              onChange={(e) => setEmail(e.target.value)} /></label>
            <label>Password<input name="password" type="password" autoComplete="current-password" required
              value={password} onChange={(e) => setPassword(e.target.value)} /></label>
          </>
        ) : (
          <label>API key<input name="api_key" type="password" autoComplete="off" required value={apiKey}
            onChange={(e) => setApiKey(e.target.value)} placeholder="dmk_…" /></label>
        )}
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </div>
  );
}
