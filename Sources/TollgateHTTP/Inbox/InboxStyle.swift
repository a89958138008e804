// The inbox's stylesheet: readable at a glance, clear focus rings for keyboard use, a dark
// scheme when the system asks for one.
enum InboxStyle {
    static let css = #"""
        :root {
          --bg: #f6f7f9; --panel: #ffffff; --text: #1c2330; --muted: #5b6475; --line: #d9dde5;
          --accent: #2457c5; --accent-text: #ffffff; --ok: #1f7a3d; --ok-bg: #e6f4ea;
          --bad: #b3261e; --bad-bg: #fbe9e7; --warn: #8a5a00; --warn-bg: #fff4d6; --focus: #ffbf47;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
          font-size: 16px; line-height: 1.45; color: var(--text); background: var(--bg);
        }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #14171c; --panel: #1d2128; --text: #e6e9ef; --muted: #a3abba; --line: #343a45;
            --accent: #6f9bff; --accent-text: #0b1020; --ok: #7fd39a; --ok-bg: #173322;
            --bad: #ff8a80; --bad-bg: #3a1a18; --warn: #ffd27a; --warn-bg: #3a2e12; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; }
        .top { display: flex; align-items: center; justify-content: space-between; gap: 1rem;
          padding: .75rem 1.5rem; background: var(--panel); border-bottom: 1px solid var(--line); }
        h1 { font-size: 1.25rem; margin: 0; }
        h1 .sub { font-weight: 400; color: var(--muted); }
        h2 { font-size: 1.1rem; margin: 1.5rem 0 .75rem; }
        h3 { font-size: 1.05rem; margin: 0; }
        h4 { font-size: .85rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: .75rem 0 .25rem; }
        main { max-width: 64rem; margin: 0 auto; padding: 0 1.5rem 3rem; }
        .whoami { display: flex; align-items: center; gap: .75rem; }
        button, input, select, textarea { font: inherit; color: inherit; }
        button { border: 1px solid var(--line); background: var(--panel); border-radius: .4rem;
          padding: .45rem 1rem; cursor: pointer; }
        button.primary { background: var(--accent); color: var(--accent-text); border-color: var(--accent); }
        button.danger { background: var(--bad-bg); color: var(--bad); border-color: var(--bad); }
        button.quiet { padding: .3rem .75rem; }
        button:disabled { opacity: .55; cursor: progress; }
        :focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
        input, select, textarea { background: var(--panel); border: 1px solid var(--line); border-radius: .4rem; padding: .45rem .6rem; }
        textarea { width: 100%; resize: vertical; }
        .panel { background: var(--panel); border: 1px solid var(--line); border-radius: .6rem; padding: 1.25rem 1.5rem; }
        .sign-in { max-width: 24rem; margin: 3rem auto; }
        .sign-in form { display: grid; gap: .4rem; }
        .sign-in button { margin-top: .75rem; }
        .hint { color: var(--muted); font-size: .9rem; font-weight: 400; }
        .error { color: var(--bad); background: var(--bad-bg); padding: .5rem .75rem; border-radius: .4rem; }
        .banner { padding: .75rem 1.5rem; background: var(--warn-bg); color: var(--warn); border-bottom: 1px solid var(--warn); font-weight: 600; }
        .bar { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 1rem; }
        .filters { display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; }
        .count { display: inline-block; min-width: 1.6rem; text-align: center; background: var(--accent);
          color: var(--accent-text); border-radius: 1rem; padding: 0 .5rem; font-size: .9rem; }
        .fleet { color: var(--muted); font-size: .9rem; margin: 0 0 .75rem; }
        .notices { display: grid; gap: .4rem; margin-bottom: .75rem; }
        .notices:empty { display: none; }
        .notice { margin: 0; padding: .5rem .75rem; border-radius: .4rem; border-left: 4px solid var(--muted); background: var(--panel); }
        .notice.ok { border-color: var(--ok); }
        .notice.bad { border-color: var(--bad); }
        .empty { color: var(--muted); }
        .cards { display: grid; gap: 1rem; }
        .card { background: var(--panel); border: 1px solid var(--line); border-radius: .6rem; padding: 1rem 1.25rem; }
        .card.urgent { border-color: var(--bad); }
        .card.linked { outline: 3px solid var(--accent); outline-offset: 2px; }
        .card > header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
        .card .by { color: var(--muted); font-weight: 400; }
        .card .tool { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
        .countdown { margin: 0; font-weight: 600; color: var(--warn); font-variant-numeric: tabular-nums; }
        .card.urgent .countdown { color: var(--bad); }
        .reason { margin: .5rem 0; font-size: 1.05rem; }
        .facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; font-size: .92rem; }
        .facts dt { color: var(--muted); }
        .facts dd { margin: 0; overflow-wrap: anywhere; }
        .rule-message { color: var(--muted); }
        .arguments table { border-collapse: collapse; font-size: .92rem; }
        .arguments th { text-align: left; font-weight: 600; padding: .2rem 1rem .2rem 0; vertical-align: top;
          font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
        .arguments td { padding: .2rem 0; vertical-align: top; }
        pre { margin: 0; padding: .4rem .6rem; background: var(--bg); border-radius: .3rem; overflow-x: auto;
          font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .88rem; }
        .tally { margin: .75rem 0; }
        .tally p { margin: .1rem 0; }
        .meter { height: .4rem; background: var(--line); border-radius: .2rem; overflow: hidden; margin-top: .3rem; }
        .meter .fill { height: 100%; width: 0; background: var(--ok); transition: width .3s; }
        @media (prefers-reduced-motion: reduce) { .meter .fill { transition: none; } }
        .vote { display: grid; gap: .4rem; border-top: 1px solid var(--line); padding-top: .75rem; }
        .buttons { display: flex; gap: .5rem; }
        .outcome { margin: 0; padding: .4rem .6rem; border-radius: .3rem; }
        .edited-badge { font-size: .75rem; font-weight: 600; color: var(--bad); background: var(--bad-bg); border-radius: .3rem; padding: .1rem .4rem; margin-left: .4rem; }
        .edit-note { margin: .3rem 0; font-size: .9rem; }
        details.edit { margin-top: .5rem; }
        .grant { margin: .3rem 0; display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
        .grant[hidden] { display: none; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
        details.edit summary { cursor: pointer; }
        .edited-arguments { font-family: ui-monospace, monospace; font-size: .85rem; margin: .3rem 0; }
        .outcome.ok { color: var(--ok); background: var(--ok-bg); }
        .outcome.bad { color: var(--bad); background: var(--bad-bg); }
        .history { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line); font-size: .92rem; }
        .history th, .history td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); }
        .history .approved { color: var(--ok); font-weight: 600; }
        .history .denied, .history .timeout { color: var(--bad); font-weight: 600; }
        .history code { font-size: .8rem; color: var(--muted); }
        """#
}
