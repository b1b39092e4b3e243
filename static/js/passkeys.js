// Passkey ceremonies (WebAuthn). Each <button data-passkey="PURPOSE">
// (signin, 2fa, sudo, register; views/passkey_button.templ) runs one:
// POST /webauthn/PURPOSE/begin for the options, navigator.credentials
// create() or get() with them, POST /webauthn/PURPOSE/finish with the
// answer, then follow {"redirect"}. Errors are shown in the button's
// [data-passkey-status] live region. Buttons are rendered hidden and shown
// only where the browser has WebAuthn.
(function () {
  "use strict";

  // --- base64url <-> ArrayBuffer ---------------------------------------

  function fromB64url(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // --- options from the server, answers to it ---------------------------

  function creationOptions(pk) {
    pk.challenge = fromB64url(pk.challenge);
    pk.user.id = fromB64url(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return pk;
  }

  function requestOptions(pk) {
    pk.challenge = fromB64url(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return pk;
  }

  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toB64url(r.userHandle);
      }
    }
    return out;
  }

  // --- requests ----------------------------------------------------------

  function csrfToken() {
    var headers = document.body.getAttribute("hx-headers");
    try {
      return JSON.parse(headers || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  // post sends body as JSON and resolves to the decoded answer; a refusal
  // rejects with its message. A redirect (to sign in again, or to confirm
  // it is you first) is followed by the whole page.
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(body)
    }).then(function (res) {
      if (res.redirected) {
        window.location.assign(res.url);
        return new Promise(function () {});
      }
      var type = res.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) {
        throw new Error(res.ok ? "Unexpected answer from the server." : "The request was refused (" + res.status + "). Reload the page and try again.");
      }
      return res.json().then(function (data) {
        if (!res.ok) {
          var msg = typeof data.error === "string" ? data.error : (data.error && data.error.message) || "The request was refused.";
          throw new Error(msg);
        }
        return data;
      });
    });
  }

  // browserMessage explains a rejection of navigator.credentials.
  function browserMessage(err) {
    if (err && err.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out.";
    }
    if (err && err.name === "InvalidStateError") {
      return "This device already has a passkey for your account.";
    }
    if (err && err.name === "SecurityError") {
      return "Passkeys cannot be used at this address.";
    }
    return (err && err.message) || "Something went wrong with the passkey.";
  }

  function run(button) {
    var purpose = button.getAttribute("data-passkey");
    // Passwordless sign-in is the "login" ceremony.
    var route = "/webauthn/" + (purpose === "signin" ? "login" : purpose);
    var status = button.parentNode.querySelector("[data-passkey-status]");
    var next = button.getAttribute("data-next") || "";
    var name = "";
    var nameInput = button.getAttribute("data-name-input");
    if (nameInput && document.getElementById(nameInput)) {
      name = document.getElementById(nameInput).value;
    }
    function show(msg) {
      if (status) {
        status.textContent = msg;
      }
    }
    show("");
    button.disabled = true;
    var token = "";
    post(route + "/begin", { name: name })
      .then(function (begin) {
        token = begin.token;
        var pk = begin.options.publicKey;
        var p = purpose === "register"
          ? navigator.credentials.create({ publicKey: creationOptions(pk) })
          : navigator.credentials.get({ publicKey: requestOptions(pk) });
        return p.catch(function (err) {
          throw new Error(browserMessage(err));
        });
      })
      .then(function (cred) {
        return post(route + "/finish", { token: token, name: name, next: next, credential: credentialJSON(cred) });
      })
      .then(function (done) {
        window.location.assign(done.redirect || "/keys");
      })
      .catch(function (err) {
        show(err.message);
        button.disabled = false;
      });
  }

  function reveal(root) {
    root.querySelectorAll("[data-passkey]").forEach(function (b) {
      b.hidden = false;
    });
  }

  function init() {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      return;
    }
    reveal(document);
    // Content htmx swaps in (boosted forms) brings its own buttons.
    document.addEventListener("htmx:load", function (e) {
      reveal(e.target);
    });
    document.addEventListener("click", function (e) {
      var b = e.target.closest("[data-passkey]");
      if (b && !b.disabled) {
        e.preventDefault();
        run(b);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
