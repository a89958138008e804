// The inbox's JavaScript: signs in, polls /v1/escalations and /v1/history every 2 s, keeps one
// card per pending request (updated in place, so a comment being typed survives), counts the
// deadlines down every second, and votes with the session's CSRF token. Text from requests is
// only ever set with textContent.
enum InboxScript {
    static let javascript = #"""
        "use strict";
        (() => {
          const POLL_MS = 2000;
          const $ = (id) => document.getElementById(id);
          const state = { me: null, pending: new Map(), history: [], grants: [], offset: 0, timer: null, known: new Set(), first: true };

          function el(tag, className, text) {
            const e = document.createElement(tag);
            if (className) e.className = className;
            if (text !== undefined && text !== null) e.textContent = String(text);
            return e;
          }

          async function api(method, path, body) {
            const headers = { "Accept": "application/json" };
            if (body !== undefined) headers["Content-Type"] = "application/json";
            if (method !== "GET" && state.me) headers["X-CSRF-Token"] = state.me.csrf_token;
            const controller = new AbortController();
            const timeout = setTimeout(() => controller.abort(), 15000);
            try {
              const response = await fetch(path, {
                method, headers, credentials: "same-origin", signal: controller.signal,
                body: body === undefined ? undefined : JSON.stringify(body),
              });
              let json = null;
              try { json = await response.json(); } catch (_) { json = null; }
              return { status: response.status, json: json || {} };
            } finally {
              clearTimeout(timeout);
            }
          }

          // ---- the banner: what is wrong with the gateway, the broker or the fleet

          function banner(text) {
            const b = $("banner");
            b.hidden = !text;
            b.textContent = text || "";
          }

          // ---- signing in and out

          function showSignIn(message) {
            stopPolling();
            state.me = null;
            $("whoami").hidden = true;
            $("inbox").hidden = true;
            $("sign-in").hidden = false;
            const error = $("sign-in-error");
            error.hidden = !message;
            error.textContent = message || "";
            $("user").focus();
          }

          function showInbox(me) {
            state.me = me;
            $("user-name").textContent = me.user;
            $("whoami").hidden = false;
            $("sign-out").hidden = me.auth === "proxy";
            $("sign-in").hidden = true;
            $("inbox").hidden = false;
            startPolling();
          }

          async function start() {
            let answer;
            try {
              answer = await api("GET", "v1/me");
            } catch (e) {
              banner("The gateway does not answer (" + e.message + "). Retrying…");
              setTimeout(start, POLL_MS);
              return;
            }
            banner("");
            if (answer.status === 200) showInbox(answer.json);
            else if (answer.status === 401) showSignIn("");
            else banner(answer.json.error || ("The gateway answered " + answer.status));
          }

          $("sign-in-form").addEventListener("submit", async (event) => {
            event.preventDefault();
            const button = $("sign-in-button");
            button.disabled = true;
            try {
              const answer = await api("POST", "v1/session", { user: $("user").value.trim(), password: $("password").value });
              $("password").value = "";
              if (answer.status === 200) {
                const me = await api("GET", "v1/me");
                if (me.status === 200) { showInbox(me.json); return; }
              }
              showSignIn(answer.json.error || ("The gateway answered " + answer.status));
            } catch (e) {
              showSignIn("The gateway does not answer (" + e.message + ").");
            } finally {
              button.disabled = false;
            }
          });

          $("sign-out").addEventListener("click", async () => {
            try { await api("DELETE", "v1/session"); } catch (_) { /* signed out locally anyway */ }
            clearCards();
            showSignIn("You are signed out.");
          });

          // ---- polling

          function startPolling() {
            stopPolling();
            state.first = true;
            poll();
          }

          function stopPolling() {
            if (state.timer) clearTimeout(state.timer);
            state.timer = null;
          }

          async function poll() {
            try {
              // The list first: a request gone from it is then surely in the history.
              const list = await api("GET", "v1/escalations");
              const history = await api("GET", "v1/history");
              const grants = await api("GET", "v1/grants");
              if (grants.status === 200) state.grants = grants.json.grants || [];
              if (list.status === 401 || history.status === 401) {
                clearCards();
                showSignIn("Your session ended. Sign in again.");
                return;
              }
              if (list.status !== 200) {
                banner(list.json.error || ("The gateway answered " + list.status + "; retrying."));
              } else {
                state.offset = Date.parse(list.json.as_of) - Date.now();
                banner(list.json.fleet_ok ? "" : (list.json.problem || "The fleet does not answer."));
                if (history.status === 200) state.history = history.json.decisions || [];
                render(list.json);
              }
            } catch (e) {
              banner("The gateway does not answer (" + e.message + "). The list below may be out of date; retrying.");
            }
            state.timer = setTimeout(poll, POLL_MS);
          }

          // ---- rendering

          function now() { return Date.now() + state.offset; }

          function clearCards() {
            $("pending").replaceChildren();
            state.pending.clear();
            state.known.clear();
          }

          function render(list) {
            const escalations = list.escalations || [];
            const ids = new Set(escalations.map((e) => e.request_id));
            for (const [id, card] of state.pending) {
              if (!ids.has(id)) {
                card.remove();
                state.pending.delete(id);
                if (!state.first) announceDecided(id, card.dataset.tool, card.dataset.agent);
              }
            }
            fillFilter("filter-tool", escalations.map((e) => e.tool_name), "all tools");
            fillFilter("filter-agent", escalations.map((e) => e.agent_id), "all agents");
            const container = $("pending");
            let previous = null;
            for (const entry of escalations) {
              let card = state.pending.get(entry.request_id);
              if (!card) {
                card = makeCard(entry);
                state.pending.set(entry.request_id, card);
              }
              updateCard(card, entry);
              // Newest first, as the gateway sends them.
              if (previous ? previous.nextSibling !== card : container.firstChild !== card) {
                container.insertBefore(card, previous ? previous.nextSibling : container.firstChild);
              }
              previous = card;
            }
            applyFilters();
            showLinked();
            const workers = list.workers || [];
            $("fleet").textContent = workers.length
              ? "Fleet: " + workers.length + (workers.length === 1 ? " worker (" : " workers (") + workers.join(", ") + ")"
              : "Fleet: no worker has answered yet.";
            renderHistory();
            renderGrants();
            tick();
            state.first = false;
          }

          // A link to one request (#request=<id>, as the webhook bridge's Slack messages make):
          // its card is marked and scrolled to once; a request no longer pending says so.
          function showLinked() {
            const match = /^#request=(.+)$/.exec(location.hash);
            const id = match ? decodeURIComponent(match[1]) : null;
            const card = id ? state.pending.get(id) : null;
            for (const c of state.pending.values()) c.classList.toggle("linked", c === card);
            const gone = $("linked-gone");
            gone.hidden = !id || !!card;
            if (id && !card) {
              const done = state.history.find((h) => h.request_id === id);
              gone.textContent = done
                ? "Request " + id + " is no longer pending: " + done.decision + " (" + (done.reason || done.resolution) + ")."
                : "Request " + id + " is not pending: it was decided, or no worker knows it.";
            }
            if (card && state.linkedShown !== id) {
              state.linkedShown = id;
              card.hidden = false;
              card.scrollIntoView({ block: "center" });
            }
          }
          window.addEventListener("hashchange", () => { state.linkedShown = null; showLinked(); });

          function fillFilter(id, values, allLabel) {
            const select = $(id);
            const chosen = select.value;
            const unique = [...new Set(values)].sort();
            if (chosen && !unique.includes(chosen)) unique.push(chosen);
            const current = [...select.options].slice(1).map((o) => o.value);
            if (current.join("\n") === unique.join("\n")) return;
            select.replaceChildren(new Option(allLabel, ""), ...unique.map((v) => new Option(v, v)));
            select.value = chosen;
          }

          function applyFilters() {
            const tool = $("filter-tool").value;
            const agent = $("filter-agent").value;
            let shown = 0;
            for (const card of state.pending.values()) {
              const visible = (!tool || card.dataset.tool === tool) && (!agent || card.dataset.agent === agent);
              card.hidden = !visible;
              if (visible) shown += 1;
            }
            $("count").textContent = String(shown);
            $("empty").hidden = shown > 0;
          }
          $("filter-tool").addEventListener("change", applyFilters);
          $("filter-agent").addEventListener("change", applyFilters);

          function makeCard(entry) {
            const card = $("card-template").content.firstElementChild.cloneNode(true);
            card.dataset.requestId = entry.request_id;
            card.dataset.tool = entry.tool_name;
            card.dataset.agent = entry.agent_id;
            card.dataset.deadline = String(Date.parse(entry.deadline));
            card.dataset.timeoutAction = entry.timeout_action || "deny";
            card.dataset.requireComment = (entry.quorum && entry.quorum.require_comment) || "never";
            if (card.dataset.requireComment === "always") card.querySelector(".comment-label .hint").textContent = "(required)";
            const safeID = "c-" + entry.request_id.replace(/[^A-Za-z0-9_-]/g, "_");
            card.id = safeID;
            card.setAttribute("aria-label", entry.tool_name + " for " + entry.agent_id);
            const comment = card.querySelector(".comment");
            comment.id = safeID + "-comment";
            card.querySelector(".comment-label").htmlFor = comment.id;
            card.querySelector(".tool").textContent = entry.tool_name;
            card.querySelector(".agent").textContent = entry.agent_id;
            card.querySelector(".reason").textContent = entry.reason || "(the agent gave no reason)";
            const rule = card.querySelector(".rule");
            rule.append(el("strong", null, entry.rule || "(default)"));
            if (entry.message) rule.append(" ", el("span", "rule-message", "— " + entry.message));
            card.querySelector(".policy").textContent = entry.policy_version || "";
            card.querySelector(".created").textContent = formatTime(entry.created_at);
            card.querySelector(".request-id").append(el("code", null, entry.request_id), " on worker " + entry.worker_id);
            const allowed = (entry.quorum && entry.quorum.approvers) || [];
            card.querySelector(".approvers").textContent = allowed.length ? allowed.join(", ") : "anyone (except the agent)";
            card.querySelector(".arguments").append(renderArguments(entry.arguments));
            const edited = card.querySelector(".edited-arguments");
            edited.id = safeID + "-edited";
            card.querySelector(".edit-label").htmlFor = edited.id;
            edited.value = JSON.stringify(entry.arguments || {}, null, 2);
            card.dataset.arguments = JSON.stringify(entry.arguments || {});
            const maxGrant = (entry.quorum && entry.quorum.max_grant_seconds) || 0;
            if (maxGrant > 0) {
              const grant = card.querySelector(".grant");
              grant.hidden = false;
              const scope = card.querySelector(".grant-scope");
              scope.id = safeID + "-grant";
              card.querySelector(".grant-label").htmlFor = scope.id;
              if (!entry.session_id) scope.querySelector('option[value="session"]').remove();
              const ttl = card.querySelector(".grant-ttl");
              const choices = [300, 900, 3600, 8 * 3600, 24 * 3600].filter((s) => s < maxGrant).concat([maxGrant]);
              for (const seconds of choices) ttl.append(new Option("for " + formatDuration(seconds), String(seconds)));
              ttl.value = String(choices.includes(3600) ? 3600 : maxGrant);
              ttl.disabled = true;
              scope.addEventListener("change", () => { ttl.disabled = !scope.value; });
            }
            card.querySelector(".vote").addEventListener("submit", (event) => {
              event.preventDefault();
              const decision = event.submitter ? event.submitter.value : "approve";
              vote(card, decision);
            });
            return card;
          }

          function updateCard(card, entry) {
            const quorum = entry.quorum || {};
            const needA = quorum.required_approvals || 1;
            const needD = quorum.required_denials || 1;
            const approvals = entry.approvals || [];
            const denials = entry.denials || [];
            card.querySelector(".approvals").textContent =
              "Approvals: " + approvals.length + " of " + needA + (approvals.length ? " (" + approvals.join(", ") + ")" : "");
            card.querySelector(".denials").textContent =
              "Denials: " + denials.length + " of " + needD + (denials.length ? " (" + denials.join(", ") + ")" : "");
            card.querySelector(".fill").style.width = Math.min(100, (100 * approvals.length) / needA) + "%";
            card.dataset.deadline = String(Date.parse(entry.deadline));
            // Approval stages: which stage, and what its deadline does.
            const stage = entry.stage;
            const stageLine = card.querySelector(".stage-line");
            stageLine.hidden = !stage;
            card.dataset.stageTimeout = stage ? (stage.on_timeout === "allow" && stage.index < stage.count ? "skip" : stage.on_timeout) : "";
            if (stage) {
              stageLine.textContent = "Stage " + stage.index + " of " + stage.count + ": " + stage.name +
                (stage.fallback ? " (the fallback group: the first approvers did not answer in time)" : "");
              const allowed = (entry.quorum && entry.quorum.approvers) || [];
              card.querySelector(".approvers").textContent = allowed.join(", ");
            }
            // An approver edited the arguments: show the new ones, and offer them for the next edit
            // unless someone is typing one.
            const args = JSON.stringify(entry.arguments || {});
            if (args !== card.dataset.arguments) {
              card.dataset.arguments = args;
              card.querySelector(".arguments").replaceChildren(renderArguments(entry.arguments));
              const edited = card.querySelector(".edited-arguments");
              if (document.activeElement !== edited) edited.value = JSON.stringify(entry.arguments || {}, null, 2);
            }
            card.querySelector(".edited-badge").hidden = !entry.edited;
            const superseded = entry.superseded || [];
            const note = card.querySelector(".edit-note");
            note.hidden = !entry.edited;
            note.textContent = entry.edited
              ? "The arguments were edited; only approvals of these arguments count." +
                (superseded.length ? " Earlier votes of " + superseded.join(", ") + " no longer count." : "")
              : "";
          }

          function renderArguments(args) {
            if (args === null || args === undefined) return el("p", "empty", "(none)");
            if (typeof args !== "object" || Array.isArray(args)) return el("pre", null, JSON.stringify(args, null, 2));
            const keys = Object.keys(args);
            if (!keys.length) return el("p", "empty", "(none)");
            const table = el("table");
            for (const key of keys) {
              const row = el("tr");
              row.append(el("th", null, key));
              const cell = el("td");
              const value = args[key];
              if (value !== null && typeof value === "object") cell.append(el("pre", null, JSON.stringify(value, null, 2)));
              else cell.append(el("span", null, typeof value === "string" ? value : JSON.stringify(value)));
              row.append(cell);
              table.append(row);
            }
            return table;
          }

          function outcomeText(d) {
            if (d.resolution === "timeout") return d.decision === "allow" ? "approved (timed out)" : "denied (timed out)";
            if (d.resolution === "approved") return "approved";
            if (d.resolution === "denied") return "denied";
            return (d.decision === "allow" ? "allowed" : "denied") + " (" + d.resolution + ")";
          }

          function decidedBy(d) {
            if (d.approvers && d.approvers.length) return d.approvers.join(", ");
            return d.resolution === "timeout" ? "nobody in time" : "—";
          }

          // The reviewers' words: "manager@corp.com: vendor verified; cfo@corp.com: ok".
          function comments(d) {
            const said = (d.votes || []).filter((v) => v.comment).map((v) => v.voter + ": " + v.comment);
            return said.length ? said.join("; ") : "—";
          }

          function renderHistory() {
            const body = $("history").querySelector("tbody");
            const rows = state.history.slice(0, 25).map((d) => {
              const row = el("tr");
              row.dataset.requestId = d.request_id;
              row.append(
                el("td", null, formatTime(d.decided_at)),
                el("td", null, d.tool_name),
                el("td", null, d.agent_id),
                el("td", d.resolution === "timeout" ? "timeout" : (d.decision === "allow" ? "approved" : "denied"), outcomeText(d)),
                el("td", null, decidedBy(d)),
                el("td", "comments", comments(d)),
              );
              const id = el("td");
              id.append(el("code", null, d.request_id));
              row.append(id);
              return row;
            });
            body.replaceChildren(...rows);
            $("history-empty").hidden = rows.length > 0;
          }

          function formatDuration(seconds) {
            if (seconds % 3600 === 0) return seconds / 3600 + (seconds === 3600 ? " hour" : " hours");
            if (seconds % 60 === 0) return seconds / 60 + " min";
            return seconds + " s";
          }

          function renderGrants() {
            const body = $("grants").querySelector("tbody");
            const rows = state.grants.map((g) => {
              const row = el("tr");
              row.dataset.grantId = g.grant_id;
              row.dataset.expires = String(Date.parse(g.expires_at));
              const end = el("td", "ends");
              const revoke = el("button", "revoke", "Revoke");
              revoke.type = "button";
              revoke.setAttribute("aria-label", "Revoke the grant of " + g.tool_name + " for " + g.agent_id);
              revoke.addEventListener("click", () => revokeGrant(g, revoke));
              const action = el("td");
              action.append(revoke);
              row.append(
                el("td", null, g.tool_name),
                el("td", null, g.agent_id),
                el("td", null, g.scope === "session" ? "session " + g.session_id : "every session"),
                el("td", null, g.rule || "(default)"),
                el("td", null, (g.approvers || []).join(", ")),
                end,
                action,
              );
              return row;
            });
            body.replaceChildren(...rows);
            $("grant-count").textContent = String(rows.length);
            $("grants-empty").hidden = rows.length > 0;
            tickGrants();
          }

          function tickGrants() {
            for (const row of $("grants").querySelectorAll("tbody tr")) {
              row.querySelector(".ends").textContent = formatLeft(Number(row.dataset.expires) - now());
            }
          }

          async function revokeGrant(g, button) {
            const what = g.tool_name + " for " + g.agent_id;
            if (!window.confirm("Revoke the standing grant of " + what + "? Its next call will be asked again.")) return;
            button.disabled = true;
            try {
              const answer = await api("POST", "v1/grants/" + encodeURIComponent(g.grant_id) + "/revoke", {});
              if (answer.status === 401) { showSignIn("Your session ended. Sign in again."); return; }
              if (answer.status === 200 && answer.json.revoked) {
                notice("You revoked the standing grant of " + what + ".", "ok");
                state.grants = state.grants.filter((x) => x.grant_id !== g.grant_id);
                renderGrants();
              } else {
                notice("Revoking the grant of " + what + " was refused: " + (answer.json.error || ("the gateway answered " + answer.status)), "bad");
              }
            } catch (e) {
              notice("The gateway does not answer (" + e.message + "); the grant may not be revoked.", "bad");
            } finally {
              button.disabled = false;
            }
          }

          function announceDecided(id, tool, agent) {
            const d = state.history.find((h) => h.request_id === id);
            const what = tool + " for " + agent;
            if (d) notice(what + ": " + outcomeText(d) + " by " + decidedBy(d) + ".", d.decision === "allow" ? "ok" : "bad");
            else notice(what + " was decided elsewhere and left the list.", "");
          }

          function notice(text, kind) {
            const box = $("notices");
            const n = el("p", "notice " + (kind || ""), text);
            box.prepend(n);
            while (box.children.length > 5) box.lastChild.remove();
          }

          // ---- deadlines

          function formatLeft(ms) {
            const total = Math.max(0, Math.ceil(ms / 1000));
            const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
            const ss = String(s).padStart(2, "0");
            return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
          }

          function tick() {
            const t = now();
            for (const card of state.pending.values()) {
              const left = Number(card.dataset.deadline) - t;
              const verb = card.dataset.timeoutAction === "allow" ? "approved" : "denied";
              const stageTimeout = card.dataset.stageTimeout;
              let text = left > 0
                ? verb + " automatically in " + formatLeft(left)
                : "deadline passed: being " + verb + " automatically";
              if (stageTimeout === "fallback") {
                text = left > 0 ? "goes to the fallback group in " + formatLeft(left) : "deadline passed: going to the fallback group";
              } else if (stageTimeout === "skip") {
                text = left > 0 ? "this stage is skipped in " + formatLeft(left) : "deadline passed: skipping this stage";
              }
              const countdown = card.querySelector(".countdown");
              if (countdown.textContent !== text) countdown.textContent = text;
              card.classList.toggle("urgent", left < 60000);
            }
            tickGrants();
          }
          setInterval(tick, 1000);

          function formatTime(iso) {
            const d = new Date(iso);
            if (isNaN(d)) return iso || "";
            return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
          }

          // ---- voting

          async function vote(card, choice) {
            const outcome = card.querySelector(".outcome");
            const comment = card.querySelector(".comment");
            const text = comment.value.trim();
            const show = (message, ok) => {
              outcome.hidden = false;
              outcome.className = "outcome " + (ok ? "ok" : "bad");
              outcome.textContent = message;
            };
            const decision = choice === "approve-edited" ? "approve" : choice;
            let edits = null;
            if (choice === "approve-edited") {
              const field = card.querySelector(".edited-arguments");
              try { edits = JSON.parse(field.value); } catch (e) { edits = undefined; }
              if (edits === undefined || edits === null || typeof edits !== "object" || Array.isArray(edits)) {
                show("The corrected arguments must be a JSON object, such as {\"amount\": 4500}.", false);
                field.focus();
                return;
              }
            }
            if (decision === "deny" && !text) {
              show("A comment is required to deny: say why.", false);
              comment.focus();
              return;
            }
            if (card.dataset.requireComment === "always" && !text) {
              show("A comment is required to vote on this request.", false);
              comment.focus();
              return;
            }
            const buttons = card.querySelectorAll("button");
            buttons.forEach((b) => { b.disabled = true; });
            const what = card.dataset.tool + " for " + card.dataset.agent;
            try {
              const body = { decision };
              if (text) body.comment = text;
              if (edits) body.arguments = edits;
              const scope = card.querySelector(".grant-scope");
              if (decision === "approve" && !card.querySelector(".grant").hidden && scope.value) {
                body.grant = { scope: scope.value, ttl_seconds: Number(card.querySelector(".grant-ttl").value) };
              }
              const answer = await api("POST", "v1/escalations/" + encodeURIComponent(card.dataset.requestId) + "/votes", body);
              if (answer.status === 401) { showSignIn("Your session ended. Sign in again."); return; }
              const verb = edits ? "approval with changes" : decision === "approve" ? "approval" : "denial";
              if (answer.status === 200 && answer.json.accepted) {
                const status = answer.json.status;
                const result = status === "allow" ? "the request is approved." : status === "deny" ? "the request is denied."
                  : "it still waits for more votes.";
                const granted = answer.json.grant_id ? " A standing grant now allows its next calls." : "";
                show("Accepted: your " + verb + " counts; " + result + granted, true);
                notice("Your " + verb + " of " + what + " was accepted; " + result + granted, "ok");
                comment.value = "";
              } else {
                const why = answer.json.error || ("the gateway answered " + answer.status);
                show("Rejected: " + why, false);
                notice("Your " + verb + " of " + what + " was rejected: " + why, "bad");
              }
            } catch (e) {
              show("The gateway does not answer (" + e.message + "); your vote may not have been sent.", false);
            } finally {
              buttons.forEach((b) => { b.disabled = false; });
            }
          }

          start();
        })();
        """#
}
