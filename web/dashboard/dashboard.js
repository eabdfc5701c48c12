// The read-only operator dashboard over the HTTP API: campaigns with status and stats (GET /v1/campaigns,
// GET /v1/campaigns/{id}), spend over time drawn as an SVG chart from stats.spend_by_day, a referral program's
// leaderboard and the retention figures (GET /v1/metrics/retention, "not available" when the route does not answer).
// The operator key is kept in this tab's sessionStorage only.
(function () {
  "use strict";
  var KEY = "incentives.operatorKey";
  var PROGRAM = "incentives.program";
  var SVG = "http://www.w3.org/2000/svg";
  var message = document.getElementById("message");

  function say(text, isError) { message.textContent = text; message.className = isError ? "error" : ""; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function money(m) {
    if (!m) { return "–"; }
    if (!m.currency) { return m.amount ? String(m.amount) : "0"; }  // nothing spent yet, no campaign currency
    return (m.amount / 100).toFixed(2) + " " + m.currency;
  }

  function api(path) {
    return fetch(path, { headers: { "x-api-key": sessionStorage.getItem(KEY) || "" } }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (resp.status === 401 || resp.status === 403) {
          sessionStorage.removeItem(KEY);
          askForKey("The key was refused (" + resp.status + "). Enter an operator key.");
          throw new Error("key refused");
        }
        return { status: resp.status, body: body };
      });
    });
  }

  function askForKey(text) {
    document.getElementById("board").hidden = true;
    document.getElementById("forget").hidden = true;
    document.getElementById("key-form").hidden = false;
    say(text || "", !!text);
  }

  function campaignRows(views) {
    var tbody = document.querySelector("#campaigns tbody");
    tbody.textContent = "";
    views.forEach(function (v) {
      var s = v.stats || {};
      var tr = el("tr", { "data-campaign": v.id });
      var name = el("td");
      name.appendChild(el("strong", {}, v.name || v.id));
      name.appendChild(el("div", { "class": "muted" }, v.id));
      tr.appendChild(name);
      var st = el("td");
      st.appendChild(el("span", { "class": "status " + v.status }, v.status));
      tr.appendChild(st);
      [s.issued, s.claims, s.redeemed, s.remaining === null ? "–" : s.remaining].forEach(function (n) {
        tr.appendChild(el("td", { "class": "num" }, String(n === undefined ? "–" : n)));
      });
      var spent = (s.discount_by_currency && s.discount_by_currency.length)
        ? s.discount_by_currency.map(money).join(", ") : money(s.discount_total);
      tr.appendChild(el("td", { "class": "num spent" }, spent));
      tbody.appendChild(tr);
    });
  }

  // Spend per day, summed over the campaigns, one line per currency; days without spend are 0.
  function drawChart(views) {
    var box = document.getElementById("chart");
    box.textContent = "";
    var byCurrency = {};
    var days = {};
    views.forEach(function (v) {
      ((v.stats || {}).spend_by_day || []).forEach(function (d) {
        byCurrency[d.currency] = byCurrency[d.currency] || {};
        byCurrency[d.currency][d.date] = (byCurrency[d.currency][d.date] || 0) + d.amount;
        days[d.date] = true;
      });
    });
    var dates = Object.keys(days).sort();
    if (!dates.length) { box.appendChild(el("p", { "class": "muted" }, "No redemptions yet.")); return; }
    // at least the last 7 days up to today, so a single day of spend is a line too
    var today = new Date(new Date().toISOString().slice(0, 10) + "T00:00:00Z");
    var first = new Date(Math.min(new Date(dates[0] + "T00:00:00Z").getTime(), today.getTime() - 6 * 86400000));
    var last = new Date(Math.max(new Date(dates[dates.length - 1] + "T00:00:00Z").getTime(), today.getTime()));
    var all = [];
    for (var t = first.getTime(); t <= last.getTime(); t += 86400000) {
      all.push(new Date(t).toISOString().slice(0, 10));
    }
    var W = 800, H = 260, L = 70, R = 50, T = 20, B = 40;
    var max = 1;
    Object.keys(byCurrency).forEach(function (c) {
      all.forEach(function (d) { max = Math.max(max, byCurrency[c][d] || 0); });
    });
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "Spend over time",
                             id: "spend-chart" });
    chart.appendChild(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }));
    chart.appendChild(svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }));
    chart.appendChild(svg("text", { x: L - 6, y: T + 4, "text-anchor": "end", "font-size": 11 },
                          (max / 100).toFixed(2)));
    chart.appendChild(svg("text", { x: L - 6, y: H - B, "text-anchor": "end", "font-size": 11 }, "0"));
    var step = all.length > 1 ? (W - L - R) / (all.length - 1) : 0;
    function x(i) { return all.length > 1 ? L + i * step : (L + W - R) / 2; }
    function y(v) { return H - B - (v / max) * (H - T - B); }
    var every = Math.max(1, Math.ceil(all.length / 8));
    all.forEach(function (d, i) {
      if (i % every === 0 || i === all.length - 1) {
        chart.appendChild(svg("text", { x: x(i), y: H - B + 16, "text-anchor": "middle", "font-size": 11 }, d));
      }
    });
    var colors = ["#2557d6", "#d6572a", "#2a9d4b", "#8e44ad"];
    Object.keys(byCurrency).sort().forEach(function (c, k) {
      var color = colors[k % colors.length];
      var pts = all.map(function (d, i) { return x(i) + "," + y(byCurrency[c][d] || 0); });
      chart.appendChild(svg("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 2,
                                          "class": "series", "data-currency": c }));
      all.forEach(function (d, i) {
        var dot = svg("circle", { cx: x(i), cy: y(byCurrency[c][d] || 0), r: 3.5, fill: color });
        dot.appendChild(svg("title", {}, d + ": " + money({ amount: byCurrency[c][d] || 0, currency: c })));
        chart.appendChild(dot);
      });
      chart.appendChild(svg("text", { x: L + 10, y: T + 14 * k, "text-anchor": "start", fill: color,
                                      "font-size": 12 }, c));
    });
    box.appendChild(chart);
  }

  function showLeaderboard(programId) {
    var box = document.getElementById("leaderboard");
    box.textContent = "";
    if (!programId) { box.appendChild(el("p", { "class": "muted" }, "Enter a referral program id.")); return; }
    sessionStorage.setItem(PROGRAM, programId);
    api("/v1/referral-programs/" + encodeURIComponent(programId) + "/leaderboard").then(function (r) {
      if (r.status !== 200) {
        box.appendChild(el("p", { "class": "muted" },
                           "No leaderboard: " + ((r.body.error && r.body.error.message) || r.status)));
        return;
      }
      if (!r.body.leaders.length) { box.appendChild(el("p", { "class": "muted" }, "No conversions yet.")); return; }
      var table = el("table", { id: "leaders" });
      table.appendChild(el("tr")).innerHTML = "<th>Rank</th><th>Customer</th><th class=num>Converted</th>";
      r.body.leaders.forEach(function (l) {
        var tr = el("tr");
        tr.appendChild(el("td", {}, String(l.rank)));
        tr.appendChild(el("td", {}, l.customer_id));
        tr.appendChild(el("td", { "class": "num" }, String(l.converted)));
        table.appendChild(tr);
      });
      box.appendChild(table);
    }).catch(function () {});
  }

  function showRetention() {
    var box = document.getElementById("retention");
    box.textContent = "";
    var to = new Date();
    var from = new Date(to.getTime() - 29 * 86400000);
    var q = "from=" + from.toISOString().slice(0, 10) + "&to=" + to.toISOString().slice(0, 10);
    api("/v1/metrics/retention?" + q).then(function (r) {
      var currencies = r.status === 200 && r.body && r.body.currencies;
      if (!currencies) {
        box.appendChild(el("p", { "class": "muted", id: "retention-na" },
                           "Retention figures are not available (" + r.status + ")."));
        return;
      }
      var codes = Object.keys(currencies).sort();
      if (!codes.length) { box.appendChild(el("p", { "class": "muted" }, "No orders in the window.")); return; }
      var table = el("table", { id: "retention-table" });
      table.appendChild(el("tr")).innerHTML = "<th>Currency</th><th class=num>Customers</th>" +
        "<th class=num>Repeat customers</th><th class=num>Orders</th><th class=num>Revenue</th>" +
        "<th class=num>Repeat purchase rate</th><th class=num>Purchase frequency</th>" +
        "<th class=num>Average order value</th><th class=num>Customer value</th>";
      codes.forEach(function (c) {
        var f = currencies[c];
        var tr = el("tr");
        [c, f.customers, f.repeat_customers, f.orders, money({ amount: f.revenue, currency: c }),
         (100 * f.repeat_purchase_rate).toFixed(1) + " %", Number(f.purchase_frequency).toFixed(2),
         money({ amount: f.average_order_value, currency: c }), money({ amount: f.customer_value, currency: c })]
          .forEach(function (v, i) { tr.appendChild(el("td", i ? { "class": "num" } : {}, String(v))); });
        table.appendChild(tr);
      });
      box.appendChild(table);
    }).catch(function () {});
  }

  function load() {
    document.getElementById("key-form").hidden = true;
    document.getElementById("forget").hidden = false;
    say("Loading…", false);
    api("/v1/campaigns").then(function (r) {
      if (r.status !== 200) { throw new Error("campaigns: " + r.status); }
      return Promise.all(r.body.campaigns.map(function (c) {
        return api("/v1/campaigns/" + encodeURIComponent(c.id)).then(function (one) {
          return one.status === 200 ? one.body : c;
        });
      }));
    }).then(function (views) {
      document.getElementById("board").hidden = false;
      campaignRows(views);
      drawChart(views);
      say("", false);
      var program = sessionStorage.getItem(PROGRAM) || "";
      document.getElementById("program").value = program;
      showLeaderboard(program);
      showRetention();
    }).catch(function (e) {
      if (e.message !== "key refused") { say("Could not load the campaigns: " + e.message, true); }
    });
  }

  document.getElementById("key-form").addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("key").value.trim());
    document.getElementById("key").value = "";
    load();
  });
  document.getElementById("program-form").addEventListener("submit", function (event) {
    event.preventDefault();
    showLeaderboard(document.getElementById("program").value.trim());
  });
  document.getElementById("forget").addEventListener("click", function () {
    sessionStorage.removeItem(KEY);
    askForKey("");
  });

  if (sessionStorage.getItem(KEY)) { load(); } else { askForKey(""); }
}());
