// The dispatch console: sign in with a token, then the live board. In
// Chinese by default, English on request; words of the policy (categories,
// priorities, states) come from GetPolicy.
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { connect, refusal, type Lang, type Policy } from "./api.js";
import { Board } from "./board.js";
import { Intake } from "./intake.js";
import { whoOf } from "./auth.js";
import { TicketPage } from "./ticket.js";
import { Outages } from "./outages.js";
import { Reports } from "./reports.js";
import { t } from "./i18n.js";

type View =
  | { name: "board" }
  | { name: "intake" }
  | { name: "outages" }
  | { name: "reports" }
  | { name: "ticket"; id: string };

/** The view named by the address's hash (#board, #intake, #ticket/<id>),
 * so a view can be linked and reloaded. */
function viewOfHash(): View {
  const h = window.location.hash;
  if (h === "#intake") return { name: "intake" };
  if (h === "#outages") return { name: "outages" };
  if (h === "#reports") return { name: "reports" };
  if (h.startsWith("#ticket/")) return { name: "ticket", id: decodeURIComponent(h.slice(8)) };
  return { name: "board" };
}

// The token lives in this tab's session storage: closing the tab signs out.
const TOKEN = "fieldops.token";
const LANG = "fieldops.lang";

function SignIn({ lang, onToken }: { lang: Lang; onToken: (t: string) => void }) {
  const [value, setValue] = useState("");
  return (
    <form
      class="sign-in"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <label for="token">{t(lang, "token")}</label>
      <textarea
        id="token"
        rows={4}
        aria-describedby="token-help"
        value={value}
        onInput={(e) => setValue((e.currentTarget as HTMLTextAreaElement).value)}
      />
      <p id="token-help" class="help">
        {t(lang, "tokenHelp")}
      </p>
      <button type="submit">{t(lang, "signIn")}</button>
    </form>
  );
}

function App() {
  const [lang, setLang] = useState<Lang>(localStorage.getItem(LANG) === "en" ? "en" : "zh");
  const [token, setToken] = useState(sessionStorage.getItem(TOKEN) ?? "");
  const [policy, setPolicy] = useState<Policy>();
  const [error, setError] = useState("");
  const [view, setView] = useState<View>(viewOfHash());
  useEffect(() => {
    const follow = () => setView(viewOfHash());
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  const api = useMemo(() => (token ? connect(token, lang) : undefined), [token, lang]);

  useEffect(() => {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t(lang, "title");
    localStorage.setItem(LANG, lang);
  }, [lang]);

  useEffect(() => {
    if (!api) return;
    setError("");
    api.policy.getPolicy({}).then(setPolicy, (e) => {
      const r = refusal(e);
      setError(r.message);
      // A token the server refuses is no token: ask again.
      if (r.reason === "UNAUTHENTICATED" || /unauthenticated/i.test(String(e))) {
        sessionStorage.removeItem(TOKEN);
        setToken("");
      }
    });
  }, [api]);

  const signIn = (tk: string) => {
    sessionStorage.setItem(TOKEN, tk);
    setToken(tk);
  };
  const signOut = () => {
    sessionStorage.removeItem(TOKEN);
    setToken("");
    setPolicy(undefined);
  };

  return (
    <>
      <header>
        <h1>{t(lang, "title")}</h1>
        {token && (
          <nav aria-label={t(lang, "title")}>
            {(["board", "intake", "outages", "reports"] as const).map((v) => (
              <a href={`#${v}`} aria-current={view.name === v ? "page" : undefined}>
                {t(lang, v)}
              </a>
            ))}
          </nav>
        )}
        <label>
          {t(lang, "language")}
          <select
            value={lang}
            onChange={(e) => setLang((e.currentTarget as HTMLSelectElement).value as Lang)}
          >
            <option value="zh">中文</option>
            <option value="en">English</option>
          </select>
        </label>
        {token && (
          <button type="button" onClick={signOut}>
            {t(lang, "signOut")}
          </button>
        )}
      </header>
      <main>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {!api ? (
          <SignIn lang={lang} onToken={signIn} />
        ) : view.name === "intake" ? (
          <Intake api={api} lang={lang} policy={policy} />
        ) : view.name === "outages" ? (
          <Outages api={api} lang={lang} policy={policy} who={whoOf(token)} />
        ) : view.name === "reports" ? (
          <Reports api={api} lang={lang} policy={policy} />
        ) : view.name === "ticket" ? (
          <TicketPage api={api} lang={lang} policy={policy} who={whoOf(token)} id={view.id} />
        ) : (
          <Board api={api} lang={lang} policy={policy} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
