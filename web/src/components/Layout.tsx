import type { ReactNode } from "react";
import { Link, useNavigate } from "react-router";
import { isAdmin, useAuth } from "../auth";

export function Layout({ title, children, wide }: { title: ReactNode; children: ReactNode; wide?: boolean }) {
  const { user, signOut } = useAuth();
  const navigate = useNavigate();
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/" className="brand">Datamint</Link>
        <nav>
          <Link to="/">Projects</Link>
          {isAdmin(user) && <Link to="/app/admin">Administration</Link>}
          <Link to="/app/account">My account</Link>
        </nav>
        <span className="who" data-testid="who">{user?.email}</span>
        <button className="link" onClick={() => signOut().then(() => navigate("/signin"))}>Sign out</button>
      </header>
      <main className={wide ? "wide" : undefined}>
        <h1>{title}</h1>
        {children}
      </main>
    </div>
  );
}

export function ErrorNote({ error }: { error: string | null | undefined }) {
  return error ? <p className="error" role="alert">{error}</p> : null;
}
