#!/usr/bin/env python3
"""Writes Sources/TollgateHTTP/Inbox/OpenAPIDocument.swift, the gateway API's OpenAPI document,
from the description below. Edit here, run `python3 tools/make-openapi.py`, rebuild; the
schemathesis check in deploy/browser-test.sh holds the running gateway to the result."""
import os
import json
ref=lambda n: {"$ref": "#/components/schemas/"+n}
err=lambda d: {"description": d, "content": {"application/json": {"schema": ref("Error")}}}
ok=lambda d,s: {"description": d, "content": {"application/json": {"schema": ref(s)}}}
rid={"name":"request_id","in":"path","required":True,"description":"The request id the worker gave the call (w1-…).","schema":{"type":"string"}}
readsec=[{"session":[]},{"proxy":[]},{"botName":[],"botSignature":[]},{"botName":[],"botToken":[]}]
votesec=[{"session":[],"csrf":[]},{"proxy":[],"csrf":[]},{"botName":[],"botSignature":[]},{"botName":[],"botToken":[]}]
strs={"type":"array","items":{"type":"string"}}
doc={
 "openapi":"3.0.3",
 "info":{"title":"Tollgate gateway","version":"1.1.0",
   "description":"The approvals inbox's JSON API: the pending requests of the whole fleet, their final decisions, and votes. People sign in with their RabbitMQ user (a session cookie plus the CSRF token from /v1/me on every change) or come through a trusted single sign-on proxy; bots sign each request (Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 over \"<t>.<body>\">, accepted once and within 300 s) or send a bearer token, always with X-Tollgate-Bot naming the bot. Every error is a JSON object {\"error\": \"...\"}."},
 "paths":{
  "/v1/me":{"get":{"operationId":"whoAmI","summary":"Who the caller is, and the CSRF token to send with changes","security":[{"session":[]},{"proxy":[]}],
     "responses":{"200":ok("The signed-in person","Me"),"401":err("Not signed in"),"403":err("--auth proxy, and the caller is not the trusted proxy")}}},
  "/v1/session":{
    "post":{"operationId":"signIn","summary":"Sign in with a RabbitMQ user and password (checked by logging in to the broker as that user)","security":[],
      "requestBody":{"required":True,"content":{"application/json":{"schema":ref("SignIn")}}},
      "responses":{"200":{"description":"Signed in; the session cookie tollgate_session is set (HttpOnly, SameSite=Strict, Secure under TLS)","headers":{"Set-Cookie":{"schema":{"type":"string"}}},"content":{"application/json":{"schema":ref("SignedIn")}}},
        "400":err("The body is not {\"user\": \"...\", \"password\": \"...\"}, or holds a NUL character"),"401":err("Wrong user name or password"),
        "404":err("This gateway signs people in through its single sign-on proxy"),"429":err("Too many sign-in attempts for this user"),
        "503":err("The broker cannot be reached to check the sign-in")}},
    "delete":{"operationId":"signOut","summary":"Sign out: ends the session and closes its broker connection","security":[{"session":[],"csrf":[]}],
      "responses":{"204":{"description":"Signed out"},"401":err("Not signed in"),"403":err("Missing or wrong CSRF token"),"404":err("This gateway signs people in through its single sign-on proxy")}}},
  "/v1/escalations":{"get":{"operationId":"listEscalations","summary":"Every pending request of the fleet, newest first","security":readsec,
     "responses":{"200":ok("The pending requests","EscalationList"),"401":err("Not signed in, or a bot's credentials are wrong")}}},
  "/v1/escalations/{request_id}":{"get":{"operationId":"getEscalation","summary":"One request: pending, or its final decision if the gateway saw it","security":readsec,"parameters":[rid],
     "responses":{"200":ok("Pending or decided","EscalationStatus"),"401":err("Not signed in"),"404":err("No pending or recently decided request with this id")}}},
  "/v1/escalations/{request_id}/votes":{"post":{"operationId":"vote","summary":"Approve or deny; answers whether the worker holding the request accepted the vote","security":votesec,"parameters":[rid],
     "requestBody":{"required":True,"content":{"application/json":{"schema":ref("Vote")}}},
     "responses":{"200":ok("The worker's answer: accepted (with the request's status) or rejected (with the reason)","VoteAnswer"),
       "400":err("Malformed body, a decision other than approve or deny, a denial without a comment, or a bot vote without approver"),
       "401":err("Not signed in, or a bot's signature or token is wrong, stale or replayed"),"403":err("Missing or wrong CSRF token"),
       "404":err("No pending request with this id in the fleet"),"429":{"description":"Too many votes from this person or bot","headers":{"Retry-After":{"schema":{"type":"integer"}}},"content":{"application/json":{"schema":ref("Error")}}},
       "502":err("The broker cannot be reached, or no worker takes votes for this request"),"504":err("The worker did not answer within 10 s; the vote waits in its queue")}}},
  "/v1/grants":{"get":{"operationId":"listGrants","summary":"The standing grants in force across the fleet, soonest to expire first","security":readsec,
     "responses":{"200":ok("The grants in force","GrantList"),"401":err("Not signed in, or a bot's credentials are wrong")}}},
  "/v1/grants/{grant_id}/revoke":{"post":{"operationId":"revokeGrant","summary":"End a standing grant early; the worker holding it authorises the caller like a vote (an approver of its rule, never the agent)","security":votesec,
     "parameters":[{"name":"grant_id","in":"path","required":True,"description":"The grant id (grant-w1-…)","schema":{"type":"string"}}],
     "requestBody":{"required":False,"content":{"application/json":{"schema":ref("Revocation")}}},
     "responses":{"200":ok("The worker's answer: revoked, or refused with the reason","RevocationAnswer"),
       "400":err("Malformed body, or a bot revocation without approver"),
       "401":err("Not signed in, or a bot's signature or token is wrong, stale or replayed"),"403":err("Missing or wrong CSRF token"),
       "404":err("Not a Tollgate grant id"),"429":{"description":"Too many votes from this person or bot","headers":{"Retry-After":{"schema":{"type":"integer"}}},"content":{"application/json":{"schema":ref("Error")}}},
       "502":err("The broker cannot be reached, or no worker takes messages for this grant"),"504":err("The worker did not answer within 10 s; the revocation waits in its queue")}}},
  "/v1/history":{"get":{"operationId":"history","summary":"The final decisions the gateway saw, newest first (at most 100)","security":readsec,
     "responses":{"200":ok("Recent decisions","History"),"401":err("Not signed in")}}},
 },
 "components":{
  "securitySchemes":{
   "session":{"type":"apiKey","in":"cookie","name":"tollgate_session","description":"Set by POST /v1/session"},
   "csrf":{"type":"apiKey","in":"header","name":"X-CSRF-Token","description":"csrf_token from /v1/me or POST /v1/session"},
   "proxy":{"type":"apiKey","in":"header","name":"X-Forwarded-User","description":"--auth proxy: the person, believed only from --trusted-proxy addresses (the header is --user-header)"},
   "botName":{"type":"apiKey","in":"header","name":"X-Tollgate-Bot"},
   "botSignature":{"type":"apiKey","in":"header","name":"Tollgate-Signature","description":"t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\"> with the bot's secret"},
   "botToken":{"type":"http","scheme":"bearer"}},
  "schemas":{
   "Error":{"type":"object","required":["error"],"properties":{"error":{"type":"string"}}},
   "Me":{"type":"object","required":["user","auth","csrf_token"],"properties":{"user":{"type":"string"},"auth":{"type":"string","enum":["broker","proxy"]},"csrf_token":{"type":"string"}}},
   "SignIn":{"type":"object","required":["user","password"],"properties":{"user":{"type":"string","minLength":1},"password":{"type":"string"}}},
   "SignedIn":{"type":"object","required":["user","csrf_token"],"properties":{"user":{"type":"string"},"csrf_token":{"type":"string"}}},
   "Quorum":{"type":"object","required":["required_approvals","required_denials","approvers"],"properties":{"required_approvals":{"type":"integer","minimum":1},"required_denials":{"type":"integer","minimum":1},"approvers":strs,
     "require_comment":{"type":"string","enum":["never","deny","always"],"description":"Which votes need a comment"},
     "max_grant_seconds":{"type":"integer","minimum":0,"description":"The longest standing grant an approval may make; 0: none"}}},
   "CastVote":{"type":"object","required":["voter","decision","at"],"properties":{"voter":{"type":"string"},"decision":{"type":"string","enum":["approve","deny"]},"comment":{"type":"string","nullable":True},"at":{"type":"string","format":"date-time"},
     "superseded":{"type":"boolean","description":"Cast in an earlier round, on other arguments: no longer counts"},
     "stage":{"type":"integer","minimum":1,"description":"Approval stages: the stage the vote was cast in"},"fallback":{"type":"boolean","description":"Cast by the stage's fallback group"},"arguments":{"type":"object","description":"The arguments this vote edited the call to"}}},
   "Escalation":{"type":"object","required":["request_id","worker_id","agent_id","tool_name","arguments","created_at","deadline","timeout_action","quorum","approvals","denials"],
     "properties":{"request_id":{"type":"string"},"worker_id":{"type":"string","description":"The worker holding the request"},"agent_id":{"type":"string"},"tool_name":{"type":"string"},
       "arguments":{"description":"The tool call's arguments: as the agent sent them, or as an approver edited them"},"reason":{"type":"string","nullable":True},"rule":{"type":"string","nullable":True},"message":{"type":"string","nullable":True},
       "policy_version":{"type":"string","nullable":True},"created_at":{"type":"string","format":"date-time"},"deadline":{"type":"string","format":"date-time"},
       "timeout_action":{"type":"string","enum":["allow","deny"]},"quorum":ref("Quorum"),"approvals":strs,"denials":strs,
       "edited":{"type":"boolean","description":"An approver edited the arguments (approve with edits)"},"round":{"type":"integer","minimum":0,"description":"0, and one more per accepted edit; only votes of the current round count"},
       "superseded":{**strs,"description":"Who voted in an earlier round, on other arguments, and not in this one"},
       "session_id":{"type":"string","nullable":True,"description":"The call's context.session_id"},
       "stage":{"type":"object","description":"Approval stages: the stage the request is in (quorum and deadline are this stage's)","required":["index","count","name","fallback","on_timeout"],
         "properties":{"index":{"type":"integer","minimum":1},"count":{"type":"integer","minimum":1},"name":{"type":"string"},"fallback":{"type":"boolean","description":"The stage's fallback group"},
           "on_timeout":{"type":"string","enum":["deny","allow","fallback"]}}}}},
   "EscalationList":{"type":"object","required":["escalations","workers","fleet_ok","as_of"],"properties":{"escalations":{"type":"array","items":ref("Escalation")},
     "workers":{"description":"The workers that answered the last fleet query or sent a notice","type":"array","items":{"type":"string"}},
     "fleet_ok":{"type":"boolean","description":"Connected to the broker and at least one worker answered"},"problem":{"type":"string","nullable":True,"description":"What is wrong, when fleet_ok is false"},
     "as_of":{"type":"string","format":"date-time","description":"The gateway's clock"}}},
   "Decision":{"type":"object","required":["request_id","decision","resolution"],"description":"A final decision as the worker published it, plus worker_id and decided_at",
     "properties":{"request_id":{"type":"string"},"correlation_id":{"type":"string","nullable":True},"agent_id":{"type":"string"},"tool_name":{"type":"string"},
       "decision":{"type":"string","enum":["allow","deny"]},"final":{"type":"boolean"},"resolution":{"type":"string","enum":["policy","approved","denied","timeout","invalid","limit","grant"]},
       "rule":{"type":"string","nullable":True},"reason":{"type":"string","nullable":True},"approvers":strs,"policy_version":{"type":"string","nullable":True},
       "worker_id":{"type":"string"},"decided_at":{"type":"string","format":"date-time"},
       "votes":{"type":"array","items":ref("CastVote"),"description":"Escalated calls: every accepted vote, in the order counted"},
       "edited":{"type":"boolean","description":"Escalated calls: an approver edited the arguments"},"arguments":{"description":"Escalated calls: the arguments decided (the edited ones after an edit); the agent calls the tool with these"},
       "grant":ref("Grant")}},
   "Grant":{"type":"object","description":"A standing grant: made by the approval that decided this request","required":["grant_id","scope","agent_id","tool_name","expires_at"],
     "properties":{"grant_id":{"type":"string"},"scope":{"type":"string","enum":["session","agent"]},"agent_id":{"type":"string"},"session_id":{"type":"string","nullable":True},
       "tool_name":{"type":"string"},"rule":{"type":"string","nullable":True},"policy_version":{"type":"string"},"approvers":strs,"request_id":{"type":"string"},
       "created_at":{"type":"string","format":"date-time"},"expires_at":{"type":"string","format":"date-time"}}},
   "EscalationStatus":{"type":"object","required":["status"],"properties":{"status":{"type":"string","enum":["pending","decided"]},"escalation":ref("Escalation"),"decision":ref("Decision")}},
   "Vote":{"description":"approve, with an optional comment; or deny, with a comment (required). A bot must also name the person in approver; from people approver is ignored (their identity is their sign-in).",
     "oneOf":[
      {"type":"object","title":"Approval","required":["decision"],"properties":{"decision":{"type":"string","enum":["approve"]},"comment":{"type":"string","nullable":True},"approver":{"type":"string","minLength":1},
        "arguments":{"type":"object","nullable":True,"description":"Approve with edits: the corrected arguments. The worker evaluates the edited call against the policy and refuses the vote when the policy denies it or escalates it under another rule; otherwise they replace the pending ones and the tally starts again"},
        "grant":{"type":"object","nullable":True,"required":["scope","ttl_seconds"],"additionalProperties":False,"description":"A standing grant with the approval, bounded by the rule's escalation.max_grant_seconds (quorum.max_grant_seconds; 0: none)",
          "properties":{"scope":{"type":"string","enum":["session","agent"]},"ttl_seconds":{"type":"integer","minimum":1,"maximum":2147483647}}}}},
      {"type":"object","title":"Denial","required":["decision","comment"],"properties":{"decision":{"type":"string","enum":["deny"]},"comment":{"type":"string","pattern":"\\S","description":"Why: required to deny"},"approver":{"type":"string","minLength":1},
        "arguments":{"not":{},"description":"Only with approve"},"grant":{"not":{},"description":"Only with approve"}}}]},
   "VoteAnswer":{"type":"object","required":["request_id","accepted"],"properties":{"request_id":{"type":"string"},"accepted":{"type":"boolean"},
     "status":{"type":"string","enum":["pending","allow","deny"],"description":"When accepted: the request's status after the vote"},"error":{"type":"string","description":"When rejected: why"},
     "grant_id":{"type":"string","description":"When the approval decided the request and made a standing grant: its id"}}},
   "GrantList":{"type":"object","required":["grants","as_of"],"properties":{"grants":{"type":"array","items":{"allOf":[ref("Grant")],"properties":{"worker_id":{"type":"string"}}}},
     "as_of":{"type":"string","format":"date-time","description":"The gateway's clock"}}},
   "Revocation":{"type":"object","properties":{"comment":{"type":"string","nullable":True},"approver":{"type":"string","minLength":1,"description":"Bots: the person who revokes"}}},
   "RevocationAnswer":{"type":"object","required":["grant_id","revoked"],"properties":{"grant_id":{"type":"string"},"revoked":{"type":"boolean"},"error":{"type":"string","description":"When refused: why"}}},
   "History":{"type":"object","required":["decisions"],"properties":{"decisions":{"type":"array","items":ref("Decision")}}},
  }}}
text=json.dumps(doc,indent=2,ensure_ascii=False)
body="\n".join(("        "+l) if l else l for l in text.split("\n"))
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "TollgateHTTP", "Inbox", "OpenAPIDocument.swift"), "w").write(
'''// The gateway API's OpenAPI document, served at /v1/openapi.json. Generated by
// tools/make-openapi.py (edit there); GatewayTests and the schemathesis run in
// deploy/browser-test.sh hold the gateway to it.
enum OpenAPIDocument {
    static let json = #"""
'''+body+'''
        """#
}
''')
