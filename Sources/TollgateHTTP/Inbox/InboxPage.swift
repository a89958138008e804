// The inbox's HTML: one page, shipped in the binary. Behaviour is in InboxScript, looks in
// InboxStyle; nothing is loaded from elsewhere (the Content-Security-Policy says 'self' only).
enum InboxPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Tollgate approvals</title>
        <link rel="stylesheet" href="inbox.css">
        <script src="inbox.js" defer></script>
        </head>
        <body>
        <header class="top">
          <h1>Tollgate <span class="sub">approvals</span></h1>
          <div id="whoami" class="whoami" hidden>
            <span>Signed in as <strong id="user-name"></strong></span>
            <button type="button" id="sign-out" class="quiet">Sign out</button>
          </div>
        </header>

        <div id="banner" class="banner" role="alert" hidden></div>

        <main>
          <section id="sign-in" class="panel sign-in" hidden aria-labelledby="sign-in-title">
            <h2 id="sign-in-title">Sign in</h2>
            <p class="hint">Use your RabbitMQ user name and password. The gateway checks them with the
              broker and never stores the password.</p>
            <form id="sign-in-form" autocomplete="on">
              <label for="user">User name</label>
              <input id="user" name="user" autocomplete="username" required autofocus>
              <label for="password">Password</label>
              <input id="password" name="password" type="password" autocomplete="current-password" required>
              <button type="submit" id="sign-in-button" class="primary">Sign in</button>
              <p id="sign-in-error" class="error" role="alert" hidden></p>
            </form>
          </section>

          <section id="inbox" hidden aria-labelledby="inbox-title">
            <div class="bar">
              <h2 id="inbox-title">Waiting for a decision <span id="count" class="count">0</span></h2>
              <div class="filters" role="search">
                <label for="filter-tool">Tool</label>
                <select id="filter-tool"><option value="">all tools</option></select>
                <label for="filter-agent">Agent</label>
                <select id="filter-agent"><option value="">all agents</option></select>
              </div>
            </div>
            <p id="fleet" class="fleet"></p>
            <div id="notices" class="notices" role="status" aria-live="polite"></div>
            <p id="linked-gone" class="empty" hidden></p>
            <p id="empty" class="empty" hidden>Nothing is waiting for a decision.</p>
            <div id="pending" class="cards"></div>

            <h2 id="grants-title">Standing grants <span id="grant-count" class="count">0</span></h2>
            <p class="hint">Calls these grants allow are not asked again until the grant ends.</p>
            <table id="grants" class="history" aria-labelledby="grants-title">
              <thead><tr><th scope="col">Tool</th><th scope="col">Agent</th><th scope="col">Where</th>
                <th scope="col">Rule</th><th scope="col">By</th><th scope="col">Ends in</th>
                <th scope="col"><span class="visually-hidden">Revoke</span></th></tr></thead>
              <tbody></tbody>
            </table>
            <p id="grants-empty" class="empty">No standing grants.</p>

            <h2 id="history-title">Recently decided</h2>
            <table id="history" class="history" aria-labelledby="history-title">
              <thead><tr><th scope="col">Decided</th><th scope="col">Tool</th><th scope="col">Agent</th>
                <th scope="col">Outcome</th><th scope="col">By</th><th scope="col">Comments</th>
                <th scope="col">Request</th></tr></thead>
              <tbody></tbody>
            </table>
            <p id="history-empty" class="empty">No decisions seen since the gateway started.</p>
          </section>
        </main>

        <template id="card-template">
          <article class="card" tabindex="-1">
            <header>
              <h3><span class="tool"></span> <span class="by">for</span> <span class="agent"></span></h3>
              <p class="countdown" aria-live="off"></p>
            </header>
            <p class="reason"></p>
            <p class="stage-line" hidden></p>
            <dl class="facts">
              <dt>Rule</dt><dd class="rule"></dd>
              <dt>Policy</dt><dd class="policy"></dd>
              <dt>Asked</dt><dd class="created"></dd>
              <dt>Who may decide</dt><dd class="approvers"></dd>
              <dt>Request</dt><dd class="request-id"></dd>
            </dl>
            <h4>Arguments <span class="edited-badge" hidden>edited by an approver</span></h4>
            <div class="arguments"></div>
            <p class="edit-note" hidden></p>
            <div class="tally">
              <p class="approvals"></p>
              <p class="denials"></p>
              <div class="meter" aria-hidden="true"><div class="fill"></div></div>
            </div>
            <form class="vote">
              <label class="comment-label">Comment <span class="hint">(required to deny)</span></label>
              <textarea class="comment" rows="2"></textarea>
              <p class="grant" hidden>
                <label class="grant-label">Also allow later calls without asking</label>
                <select class="grant-scope">
                  <option value="">no: ask again next time</option>
                  <option value="session">in this session</option>
                  <option value="agent">in every session of this agent</option>
                </select>
                <select class="grant-ttl" aria-label="for how long"></select>
              </p>
              <div class="buttons">
                <button type="submit" class="approve primary" value="approve">Approve</button>
                <button type="submit" class="deny danger" value="deny">Deny</button>
              </div>
              <details class="edit">
                <summary>Approve with changes</summary>
                <label class="edit-label">Corrected arguments (JSON). The policy checks them as if the agent had sent them; earlier approvals then no longer count.</label>
                <textarea class="edited-arguments" rows="5" spellcheck="false"></textarea>
                <div class="buttons">
                  <button type="submit" class="approve-edited" value="approve-edited">Approve these arguments</button>
                </div>
              </details>
              <p class="outcome" role="status" aria-live="polite" hidden></p>
            </form>
          </article>
        </template>
        </body>
        </html>
        """#
}
