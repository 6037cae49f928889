// Who is signed in, read from the token's payload: only to show or hide
// actions. The server decides (every action is checked there again).
export interface Who {
  sub: string;
  roles: string[];
  unit: string;
}

export function whoOf(token: string): Who {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return { sub: String(claims.sub ?? ""), roles: (claims.roles ?? []).map(String), unit: String(claims.unit ?? "") };
  } catch {
    return { sub: "", roles: [], unit: "" };
  }
}

export const has = (who: Who, role: string) => who.roles.includes(role);
