// The landing page of /claim/{campaign_id}: claims a code for an e-mail address over the public claims API
// (POST /v1/public/campaigns/{campaign_id}/claims) and shows it with its QR code (the answer's qr_svg).
(function () {
  "use strict";
  var campaignId = decodeURIComponent(location.pathname.replace(/^\/claim\/?/, "").split("/")[0] || "");
  var form = document.getElementById("claim-form");
  var button = document.getElementById("submit");
  var message = document.getElementById("message");
  // the API's URL when it is not this page's origin (the hosted pages: /claim/config.js), without a trailing slash
  var apiBase = String(window.INCENTIVES_API_URL || "").replace(/\/+$/, "");
  document.getElementById("campaign").textContent = campaignId || "(none)";

  var REASONS = {
    campaign_not_found: "This campaign does not exist.",
    claims_not_offered: "This campaign does not offer codes here.",
    campaign_inactive: "This campaign is over.",
    code_not_active_yet: "This campaign has not started yet.",
    country_not_eligible: "This offer is not available in your country.",
    locale_not_eligible: "This offer is not available in your language.",
    claims_exhausted: "All codes of this campaign have been claimed.",
    forbidden: "Codes of this campaign cannot be claimed from this page.",
    invalid_request: "Please check your e-mail address.",
    delivery_failed: "We could not send your code. Please try again."
  };

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "";
  }

  function show(answer) {
    document.getElementById("result").hidden = false;
    if (answer.delivery === "email") {
      document.getElementById("code").textContent = "";
      document.getElementById("qr").hidden = true;
      say("Your code is on its way to your inbox.", false);
      return;
    }
    document.getElementById("code").textContent = answer.code;
    var qr = document.getElementById("qr");
    qr.hidden = !answer.qr_svg;
    if (answer.qr_svg) {
      qr.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(answer.qr_svg);
    }
    document.getElementById("expires").textContent =
      answer.expires_at ? "Valid until " + answer.expires_at.slice(0, 10) : "";
  }

  function retryText(seconds) {
    var s = Math.max(1, parseInt(seconds, 10) || 1);
    return "Too many requests. Please try again in " + s + (s === 1 ? " second." : " seconds.");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var email = document.getElementById("email").value.trim();
    if (!email) { say("Please enter your e-mail address.", true); return; }
    var body = { email: email, consent: document.getElementById("consent").checked };
    var country = document.getElementById("country").value.trim().toUpperCase();
    if (country) { body.country = country; }
    button.disabled = true;
    say("", false);
    fetch(apiBase + "/v1/public/campaigns/" + encodeURIComponent(campaignId) + "/claims", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (resp.ok) { show(data); say(resp.status === 200 ? "You claimed this code before." : "", false); return; }
        document.getElementById("result").hidden = true;
        var code = data.error && data.error.code;
        if (resp.status === 429 || resp.status === 503 && resp.headers.get("Retry-After")) {
          say(retryText(resp.headers.get("Retry-After")), true);
        } else {
          say(REASONS[code] || (data.error && data.error.message) || "Something went wrong (" + resp.status + ").",
              true);
        }
      });
    }).catch(function () {
      say("The service cannot be reached. Please try again.", true);
    }).finally(function () { button.disabled = false; });
  });
}());
