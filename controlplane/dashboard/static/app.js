// fleetgate dashboard: keep the page live without reloading it. The server says "change" on
// /events (server-sent events); the page then fetches itself again and swaps the sections
// marked data-live, keeping the filter box, the scroll position and open <details> as they
// are. Plain JavaScript, no build step.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var body = document.body;
  var live = document.getElementById("live");
  var updates = 0;

  function setLive(state, text, glyph) {
    if (!live) return;
    live.dataset.state = state;
    live.querySelector(".dot").textContent = glyph;
    live.querySelector(".txt").textContent = text;
  }

  // relative times: "12s ago", updated every second; the full time stays in the title
  function span(d) {
    if (d < 60) return Math.floor(d) + "s";
    if (d < 3600) return Math.floor(d / 60) + "m";
    if (d < 172800) return Math.floor(d / 3600) + "h";
    return Math.floor(d / 86400) + "d";
  }
  function rel(t) {
    var d = (Date.now() - Date.parse(t)) / 1000;
    if (d < -1) return "in " + span(-d); // a freeze's end, for example
    return span(Math.max(0, d)) + " ago";
  }
  function tick() {
    var ts = document.querySelectorAll("time[data-rel]");
    for (var i = 0; i < ts.length; i++) ts[i].textContent = rel(ts[i].getAttribute("datetime"));
  }
  tick();
  setInterval(tick, 1000);

  // refresh: fetch this page again and swap its live sections
  var inflight = false, again = false;
  function refresh() {
    if (inflight) { again = true; return; }
    inflight = true;
    fetch(location.pathname + location.search, { headers: { "Accept": "text/html", "X-Fleetgate-Live": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401) { setLive("signed-out", "signed out: reload to sign in", "!"); throw new Error("signed out"); }
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelectorAll("[data-live][id]");
        for (var i = 0; i < fresh.length; i++) {
          var cur = document.getElementById(fresh[i].id);
          if (!cur) continue;
          if (cur.innerHTML !== fresh[i].innerHTML) {
            // keep open <details> open
            var open = {};
            cur.querySelectorAll("details[data-id][open]").forEach(function (d) { open[d.dataset.id] = true; });
            cur.replaceWith(document.importNode(fresh[i], true));
            var now = document.getElementById(fresh[i].id);
            now.querySelectorAll("details[data-id]").forEach(function (d) { if (open[d.dataset.id]) d.open = true; });
          }
        }
        if (doc.title) document.title = doc.title;
        updates++;
        body.dataset.updates = String(updates);
        tick();
      })
      .catch(function () {})
      .finally(function () {
        inflight = false;
        if (again) { again = false; refresh(); }
      });
  }

  // live updates
  var url = body.dataset.events;
  if (url && window.EventSource) {
    var es;
    var connect = function () {
      es = new EventSource(url);
      es.onopen = function () {
        setLive("live", "live", "●");
        refresh(); // catch up on what changed since the page was rendered (or while disconnected)
      };
      es.addEventListener("change", refresh);
      es.onerror = function () {
        setLive("reconnecting", "reconnecting…", "○");
        if (es.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
      };
    };
    connect();
  }

  // the node filter: typing filters at once, without reloading the page
  var form = document.getElementById("node-filter");
  if (form) {
    var timer;
    var apply = function () {
      var params = new URLSearchParams(location.search);
      var q = form.elements.q.value.trim(), st = form.elements.state.value;
      if (q) params.set("q", q); else params.delete("q");
      if (st) params.set("state", st); else params.delete("state");
      params.delete("page");
      var qs = params.toString();
      history.replaceState(null, "", location.pathname + (qs ? "?" + qs : "") + location.hash);
      refresh();
    };
    form.elements.q.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 150); });
    form.elements.state.addEventListener("change", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
  }

  // pages of the node table: move without reloading
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest(".pager a");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    var u = new URL(a.href);
    history.pushState(null, "", u.pathname + u.search + "#nodes");
    refresh();
  });
  window.addEventListener("popstate", function () {
    if (form) { // back and forward restore the filter as well as the table
      var params = new URLSearchParams(location.search);
      form.elements.q.value = params.get("q") || "";
      form.elements.state.value = params.get("state") || "";
    }
    refresh();
  });
})();
