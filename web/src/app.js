// The reading-room page: login, worklist, case page (answer, timeline, viewer, evidence, criteria, next step,
// sign-off, outcome, context). Talks only to this service's /api with a bearer token kept in sessionStorage.
import { Niivue, SLICE_TYPE } from "@niivue/niivue";

const main = document.getElementById("main");
const token = () => sessionStorage.getItem("token");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const pct = (x) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(0)} %`);

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {}, { Authorization: `Bearer ${token()}` });
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401) { sessionStorage.removeItem("token"); location.hash = "#/login"; throw new Error("login needed"); }
  const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(typeof body === "object" ? JSON.stringify(body.detail ?? body) : body);
  return body;
}

function showPacs(status) {
  const el = document.getElementById("pacs");
  el.hidden = !status || status === "ok";
  el.textContent = status && status !== "ok" ? `PACS: ${status}` : "";
}

function loginPage() {
  main.innerHTML = `<h2>Log in</h2><form id="login">
    <p><label>User <input name="username" id="username" autocomplete="username"></label></p>
    <p><label>Password <input name="password" id="password" type="password" autocomplete="current-password"></label></p>
    <p><button type="submit" id="login-button">Log in</button> <span id="login-error" class="error"></span></p></form>`;
  document.getElementById("login").onsubmit = async (ev) => {
    ev.preventDefault();
    const r = await fetch("/api/token", { method: "POST", body: new URLSearchParams(new FormData(ev.target)) });
    if (!r.ok) { document.getElementById("login-error").textContent = "wrong user name or password"; return; }
    const t = await r.json();
    sessionStorage.setItem("token", t.access_token);
    sessionStorage.setItem("role", t.role);
    location.hash = "#/worklist";
  };
}

async function worklistPage() {
  const data = await api("/api/worklist");
  showPacs(data.pacs);
  const rows = data.patients.map((p) => `<tr>
    <td><a href="#/case/${encodeURIComponent(p.patient_id)}" class="patient-link">${esc(p.patient_id)}</a></td>
    <td>${esc(p.latest_scan ?? "—")}</td><td>${esc(p.status)}${p.reason ? `<br><small>${esc(p.reason)}</small>` : ""}</td>
    <td>${pct(p.probability)}${p.interval ? ` (${pct(p.interval[0])}–${pct(p.interval[1])})` : ""}</td>
    <td>${esc(p.criteria_call ?? "—")}</td><td>${p.signed_off ? "signed" : ""}</td></tr>`).join("");
  main.innerHTML = `<h2>Worklist</h2><table id="worklist"><tr><th>Patient</th><th>Latest scan</th><th>Status</th>
    <th>P(true progression) (95 % interval)</th><th>Criteria call</th><th>Sign-off</th></tr>${rows}</table>`;
}

async function loadViewer(canvas, pid, files, overlay) {
  const nv = new Niivue({ show3Dcrosshair: false, isResizeCanvas: true, backColor: [0, 0, 0, 1] });
  await nv.attachToCanvas(canvas);
  nv.setSliceType(SLICE_TYPE.AXIAL);
  const auth = { Authorization: `Bearer ${token()}` };
  const url = (p) => `/api/patients/${encodeURIComponent(pid)}/files/${p}`;
  const vols = [];
  if (files.t1c) vols.push({ url: url(files.t1c), name: "t1c.nii.gz", headers: auth, colormap: "gray" });
  if (overlay && files[overlay]) vols.push({ url: url(files[overlay]), name: `${overlay}.nii.gz`, headers: auth, colormap: "warm", opacity: 0.45, ignoreZeroVoxels: true });
  if (files.lesion) vols.push({ url: url(files.lesion), name: "lesion.nii.gz", headers: auth, colormap: "red", opacity: 1, cal_min: 0.5, cal_max: 1 });
  if (vols.length) await nv.loadVolumes(vols);
  return nv;
}

async function showViewers(pid, viewer) {
  const dates = Object.keys(viewer).sort();
  const box = document.getElementById("viewers");
  if (!dates.length) { box.innerHTML = "<p>No images to show for this assessment.</p>"; return; }
  const shown = dates.slice(-2);
  const overlay = document.getElementById("overlay").value;
  box.innerHTML = shown.map((d, i) => `<figure><div class="canvas-box"><canvas id="viewer-${i}" width="420" height="420"></canvas></div>
    <figcaption>${esc(d)}: T1c, lesion outline (red)${overlay ? `, ${esc(overlay)}` : ""}</figcaption></figure>`).join("");
  const nvs = [];
  for (let i = 0; i < shown.length; i++) nvs.push(await loadViewer(document.getElementById(`viewer-${i}`), pid, viewer[shown[i]], overlay));
  if (nvs.length === 2) { nvs[0].broadcastTo(nvs[1], { "2d": true, "3d": true }); nvs[1].broadcastTo(nvs[0], { "2d": true, "3d": true }); }
  window.__viewers = nvs; // for the browser test: cursor linking is observable
  document.body.dataset.viewerReady = "1";
}

async function casePage(pid) {
  const d = await api(`/api/patients/${encodeURIComponent(pid)}`);
  showPacs(d.pacs);
  const a = d.assessment;
  const prob = a?.probability_true_progression;
  const resp = a?.response;
  const rec = a?.recommendation;
  const jobs = d.jobs.map((j) => `<tr><td>${j.id}</td><td class="job-status">${esc(j.status)}</td><td>${esc(j.reason ?? "")}</td><td>${esc(j.trigger)}</td><td>${j.attempts}</td></tr>`).join("");
  const timeline = (a?.timepoints ?? []).map((t) => `<tr><td>${esc(t.date)}</td><td>${(t.lesions ?? []).map((l) =>
    `${esc(l.id)}: ${l.measurement?.long_mm ?? "?"} × ${l.measurement?.perp_mm ?? "?"} mm${l.measurement?.enhancing_volume_mm3 ? `, ${(l.measurement.enhancing_volume_mm3 / 1000).toFixed(1)} cm³` : ""}`).join("<br>")}</td></tr>`).join("");
  const treatments = (a?.treatments ?? []).map((t) => `<li>${esc(t.type)} ${esc(t.start)}${t.end ? `–${esc(t.end)}` : ""}${t.dose_gy ? `, ${t.dose_gy} Gy` : ""}${t.agent ? `, ${esc(t.agent)}` : ""}</li>`).join("");
  const evidence = (a?.evidence ?? []).map((e) => `<tr><td>${esc(e.name)}</td><td>${esc(typeof e.value === "number" ? e.value.toPrecision(3) : e.value)} ${esc(e.unit ?? "")}</td>
    <td>${e.likelihood_ratio ?? ""}</td><td>${esc(e.direction ?? "")}</td><td><small>${esc(e.source ?? "")}</small></td></tr>`).join("");
  const explain = (resp?.explanation ?? []).map((x) => `<li>${esc(x)}</li>`).join("");
  const others = (a?.other_responses ?? []).map((r) => `<li>${esc(r.criteria)}: ${esc(r.category)}</li>`).join("");
  const signoffs = d.signoffs.map((s) => `<li>${esc(s.user)}: ${s.agree ? "agree" : "disagree"} — ${esc(s.comment)} (${esc(s.at)})</li>`).join("");
  const outcomes = d.outcomes.map((o) => `<li>${esc(o.date)}: ${esc(o.result)} by ${esc(o.source)} (${esc(o.user)}) ${esc(o.comment)}</li>`).join("");
  const admin = sessionStorage.getItem("role") === "admin";
  main.innerHTML = `<h2>Patient ${esc(d.patient_id)}</h2>
  <section class="answer" id="answer">${a ? `
    <div class="p" id="probability">P(true progression) ${pct(prob?.value)} (95 % interval ${pct(prob?.interval?.[0])}–${pct(prob?.interval?.[1])})</div>
    <div>${esc(prob?.label ?? "")}</div>
    <div id="criteria-call">${esc(resp?.criteria ?? "")}: <strong>${esc(resp?.category ?? "not assessed")}</strong></div>
    <div id="next-step">Next step: <strong>${esc(rec?.next_step ?? "—")}</strong> ${rec?.rating ? `(${esc(rec.rating)})` : ""}</div>`
    : `<p id="probability">No assessment yet.</p>`}</section>
  <section><h3>Jobs</h3><table id="jobs"><tr><th>id</th><th>status</th><th>reason</th><th>trigger</th><th>attempts</th></tr>${jobs}</table></section>
  <section><h3>Images</h3><label>Overlay <select id="overlay"><option value="rcbv">rCBV</option><option value="adc">ADC</option>
    <option value="ktrans">Ktrans</option><option value="">none</option></select></label>
    <p><small>Two latest timepoints side by side, cursor linked; click to move it.</small></p><div class="viewers" id="viewers"></div></section>
  <section><h3>Timeline</h3><ul>${treatments}</ul><table id="timeline"><tr><th>Scan</th><th>Lesions</th></tr>${timeline}</table></section>
  <section><h3>Evidence</h3><table id="evidence"><tr><th>Item</th><th>Value</th><th>LR</th><th>Favours</th><th>Source</th></tr>${evidence}</table>
    ${prob?.method ? `<p><small>${esc(prob.method)}</small></p>` : ""}</section>
  <section><h3>Criteria</h3><ul id="criteria">${explain}</ul><p>Other criteria:</p><ul>${others}</ul></section>
  <section><h3>Next step</h3><p>${esc(rec?.next_step ?? "—")}</p><p>${esc(rec?.management ?? "")}</p>
    <ul>${(rec?.warnings ?? []).map((w) => `<li>${esc(w)}</li>`).join("")}</ul>
    ${a ? `<p><a href="#" id="report-link">Report (PDF)</a></p>` : ""}</section>
  <section><h3>Sign-off</h3><ul id="signoffs">${signoffs}</ul>
    <form id="signoff-form"><label><input type="radio" name="agree" value="true" checked> agree</label>
    <label><input type="radio" name="agree" value="false"> disagree</label>
    <input name="comment" id="signoff-comment" placeholder="comment" size="50">
    <button type="submit" id="signoff-button" ${a ? "" : "disabled"}>Sign off</button> <span id="signoff-msg"></span></form></section>
  <section><h3>Outcome</h3><ul id="outcomes">${outcomes}</ul>
    <form id="outcome-form"><select name="source"><option value="histology">histology</option><option value="follow_up">follow-up</option></select>
    <select name="result"><option value="progression">true progression</option><option value="treatment_effect">treatment effect</option></select>
    <input type="date" name="date" required> <input name="comment" placeholder="comment">
    <button type="submit" id="outcome-button">Record outcome</button> <span id="outcome-msg"></span></form></section>
  <section><h3>Clinical context</h3>${admin ? `<form id="context-form"><textarea name="context" id="context">${esc(d.context_yaml ?? "")}</textarea>
    <br><button type="submit">Save context</button> <span id="context-msg"></span></form>` : `<pre>${esc(d.context_yaml ?? "none")}</pre>`}</section>`;
  document.getElementById("signoff-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      await api(`/api/patients/${encodeURIComponent(pid)}/signoff`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ agree: f.get("agree") === "true", comment: f.get("comment") }) });
      document.getElementById("signoff-msg").textContent = "signed";
      document.getElementById("signoffs").insertAdjacentHTML("beforeend", `<li>you: ${f.get("agree") === "true" ? "agree" : "disagree"} — ${esc(f.get("comment"))}</li>`);
    } catch (e) { document.getElementById("signoff-msg").textContent = e.message; }
  };
  document.getElementById("outcome-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(ev.target));
    try {
      await api(`/api/patients/${encodeURIComponent(pid)}/outcome`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(f) });
      document.getElementById("outcome-msg").textContent = "recorded";
    } catch (e) { document.getElementById("outcome-msg").textContent = e.message; }
  };
  const cf = document.getElementById("context-form");
  if (cf) cf.onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      await api(`/api/patients/${encodeURIComponent(pid)}/context`, { method: "PUT", headers: { "Content-Type": "application/yaml" }, body: document.getElementById("context").value });
      document.getElementById("context-msg").textContent = "saved";
    } catch (e) { document.getElementById("context-msg").textContent = e.message; }
  };
  const rl = document.getElementById("report-link");
  if (rl) rl.onclick = async (ev) => {
    ev.preventDefault();
    const r = await fetch(`/api/patients/${encodeURIComponent(pid)}/files/report.pdf`, { headers: { Authorization: `Bearer ${token()}` } });
    if (r.ok) window.open(URL.createObjectURL(await r.blob()));
  };
  document.getElementById("overlay").onchange = () => showViewers(pid, d.viewer);
  await showViewers(pid, d.viewer);
}

async function route() {
  document.getElementById("logout").hidden = !token();
  if (!token()) { loginPage(); return; }
  const [, page, arg] = location.hash.split("/");
  try {
    if (page === "case" && arg) await casePage(decodeURIComponent(arg));
    else await worklistPage();
  } catch (e) { if (token()) main.innerHTML = `<p class="error">${esc(e.message)}</p>`; }
}

document.getElementById("logout").onclick = () => { sessionStorage.clear(); location.hash = "#/login"; route(); };
window.addEventListener("hashchange", route);
route();
