import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { ApiError, request, setCsrfToken } from "./api";

export interface User {
  id: string;
  email: string;
  firstname: string | null;
  lastname: string | null;
  roles: string[];
  customer_id: string;
}

interface AuthState {
  user: User | null | undefined; // undefined: still asking the server
  signIn: (credentials: { email?: string; password?: string; api_key?: string }) => Promise<void>;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null | undefined>(undefined);

  useEffect(() => {
    request<{ user: User; csrf_token: string | null }>("/auth/session")
      .then((s) => { setCsrfToken(s.csrf_token); setUser(s.user); })
      .catch((e) => { if (!(e instanceof ApiError) || e.status !== 401) console.error(e); setUser(null); });
  }, []);

  const signIn = useCallback(async (credentials: { email?: string; password?: string; api_key?: string }) => {
    const s = await request<{ user: User; csrf_token: string }>("/auth/session", { json: credentials });
    setCsrfToken(s.csrf_token);
    setUser(s.user);
  }, []);

  const signOut = useCallback(async () => {
    await request("/auth/session", { method: "DELETE" });
    setCsrfToken(null);
    setUser(null);
  }, []);

  return <AuthContext.Provider value={{ user, signIn, signOut }}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}

export const isAdmin = (user: User | null | undefined) => !!user?.roles.includes("admin");
