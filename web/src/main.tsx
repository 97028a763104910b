import { StrictMode, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router";
import { AuthProvider, useAuth } from "./auth";
import { AcceptInvitation } from "./pages/AcceptInvitation";
import { AccountPage } from "./pages/Account";
import { AdminPage } from "./pages/Admin";
import { Home } from "./pages/Home";
import { ProjectPage } from "./pages/ProjectPage";
import { QualityPage } from "./pages/Quality";
import { ItemPage } from "./pages/Item";
import { WorklistPage } from "./pages/Worklist";
import { SignIn } from "./pages/SignIn";
import "./styles.css";

function RequireAuth({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  const location = useLocation();
  if (user === undefined) return <p className="muted center">Loading…</p>;
  if (user === null) {
    return <Navigate to={`/signin?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  }
  return <>{children}</>;
}

function App() {
  return (
    <Routes>
      <Route path="/signin" element={<SignIn />} />
      <Route path="/invitations/accept" element={<AcceptInvitation />} />
      <Route path="/app/projects/:projectId" element={<RequireAuth><ProjectPage /></RequireAuth>} />
      <Route path="/app/projects/:projectId/quality" element={<RequireAuth><QualityPage /></RequireAuth>} />
      <Route path="/app/admin" element={<RequireAuth><AdminPage /></RequireAuth>} />
      <Route path="/app/account" element={<RequireAuth><AccountPage /></RequireAuth>} />
      <Route path="/" element={<RequireAuth><Home /></RequireAuth>} />
      <Route path="/app/worklists/:worklistId" element={<RequireAuth><WorklistPage /></RequireAuth>} />
      <Route path="/app/worklists/:worklistId/items/:resourceId" element={<RequireAuth><ItemPage /></RequireAuth>} />
      <Route path="*" element={<RequireAuth><p className="center">This page does not exist.</p></RequireAuth>} />
    </Routes>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <BrowserRouter>
      <AuthProvider><App /></AuthProvider>
    </BrowserRouter>
  </StrictMode>,
);
