// The invitation link opens here: the invitee chooses a password and is signed in.
import { useEffect, useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router";
import { request } from "../api";
import { useAuth } from "../auth";
import { ErrorNote } from "../components/Layout";

export function AcceptInvitation() {
  const token = new URLSearchParams(useLocation().search).get("token") ?? "";
  const { signIn } = useAuth();
  const navigate = useNavigate();
  const [firstname, setFirstname] = useState("");
  const [lastname, setLastname] = useState("");
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [key, setKey] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [invited, setInvited] = useState<{ email: string; organization: string | null; expires_at: string } | null>(null);

  useEffect(() => {
    if (!token) return;
    request<{ email: string; organization: string | null; expires_at: string; firstname: string | null;
      lastname: string | null }>("/invitations/describe", { json: { token } })
      .then((i) => { setInvited(i); setFirstname(i.firstname ?? ""); setLastname(i.lastname ?? ""); })
      .catch((e) => setError(e instanceof Error ? e.message : String(e)));
  }, [token]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (password !== repeat) { setError("The two passwords differ"); return; }
    setBusy(true);
    try {
      const answer = await request<{ user: { email: string }; api_key: string }>("/invitations/accept", {
        json: { token, password, firstname: firstname || null, lastname: lastname || null } });
      await signIn({ email: answer.user.email, password });
      setKey(answer.api_key);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  if (key) {
    return (
      <div className="signin"><div className="card" style={{ width: 480 }}>
        <h1>Welcome to Datamint</h1>
        <p>Your account is ready and you are signed in. Your first API key, for the Python SDK and the
          command line (shown once: copy it now):</p>
        <p className="keybox" data-testid="first-key">{key}</p>
        <button className="primary" onClick={() => navigate("/")}>Go to my projects</button>
      </div></div>
    );
  }
  return (
    <div className="signin">
      <form onSubmit={submit} className="card" aria-label="Accept the invitation">
        <h1>Join Datamint</h1>
        {!token && <p className="error">This link has no invitation token: open the complete link you were sent.</p>}
        {invited && <p data-testid="invited">Invitation for <b>{invited.email}</b>
          {invited.organization ? <> to join <b>{invited.organization}</b></> : null}.</p>}
        <label>First name<input value={firstname} onChange={(e) => setFirstname(e.target.value)} /></label>
        <label>Last name<input value={lastname} onChange={(e) => setLastname(e.target.value)} /></label>
        <label>Password (at least 8 characters)<input type="password" autoComplete="new-password" minLength={8} required
          value={password} onChange={(e) => setPassword(e.target.value)} /></label>
        <label>Repeat the password<input type="password" autoComplete="new-password" required value={repeat}
          onChange={(e) => setRepeat(e.target.value)} /></label>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy || !token}>Create my account</button>
      </form>
    </div>
  );
}
