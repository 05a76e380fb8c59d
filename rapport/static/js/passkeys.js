/* Passkeys: the browser half of the WebAuthn ceremonies in rapport/accounts/passkeys.py.

   A form marked <form data-passkey="create|get" data-options-url="…"> first asks its options URL
   for a challenge (posting the form's fields: the CSRF token, and the name when adding one), hands
   it to navigator.credentials.create() or .get(), then puts the browser's answer, as JSON with
   base64url fields, into the form's hidden "credential" input and submits the form for real, so
   the server answers with an ordinary redirect or page. Errors are shown in the form's
   [data-passkey-error] box, in the user's words. Elements marked [data-passkey-only] stay hidden
   in a browser without passkeys. */
(function () {
  "use strict";

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var text = window.atob(base64);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return window.btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBinaryIds(descriptors) {
    return (descriptors || []).map(function (descriptor) {
      var copy = Object.assign({}, descriptor);
      copy.id = toBytes(descriptor.id);
      return copy;
    });
  }

  function creationOptions(options) {
    var publicKey = Object.assign({}, options);
    publicKey.challenge = toBytes(options.challenge);
    publicKey.user = Object.assign({}, options.user, { id: toBytes(options.user.id) });
    publicKey.excludeCredentials = withBinaryIds(options.excludeCredentials);
    return publicKey;
  }

  function requestOptions(options) {
    var publicKey = Object.assign({}, options);
    publicKey.challenge = toBytes(options.challenge);
    publicKey.allowCredentials = withBinaryIds(options.allowCredentials);
    return publicKey;
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var answer = { clientDataJSON: toBase64url(response.clientDataJSON) };
    if (response.attestationObject) {
      answer.attestationObject = toBase64url(response.attestationObject);
      answer.transports = response.getTransports ? response.getTransports() : [];
    } else {
      answer.authenticatorData = toBase64url(response.authenticatorData);
      answer.signature = toBase64url(response.signature);
      answer.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: answer
    });
  }

  function browserMessage(error, creating) {
    switch (error && error.name) {
      case "NotAllowedError":
        return "The passkey request was cancelled or timed out. Try again.";
      case "InvalidStateError":
        return creating
          ? "This device already holds a passkey for your account."
          : "This device has no passkey for this site.";
      case "SecurityError":
        return "Passkeys work only at this site's own address, over HTTPS (or on localhost).";
      case "NotSupportedError":
        return "This device cannot make a passkey that Rapport accepts.";
      case "AbortError":
        return "The passkey request was stopped. Try again.";
      default:
        return "Your browser could not use a passkey just now. Try again.";
    }
  }

  function showError(form, text, fieldName) {
    var box = form.querySelector("[data-passkey-error]");
    if (box) {
      box.textContent = text;
      box.hidden = false;
    }
    var field = fieldName ? form.elements[fieldName] : null;
    if (field && field.setAttribute) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
  }

  function clearError(form) {
    var box = form.querySelector("[data-passkey-error]");
    if (box) {
      box.textContent = "";
      box.hidden = true;
    }
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (field) {
      field.removeAttribute("aria-invalid");
    });
  }

  function fetchOptions(form) {
    var data = new FormData(form);
    data.delete("credential");
    var token = data.get("csrfmiddlewaretoken") || "";
    return window.fetch(form.getAttribute("data-options-url"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": token, Accept: "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var refusal = new Error(body.error || "Rapport could not start the passkey request. Try again.");
          refusal.field = body.field || "";
          refusal.fromServer = true;
          throw refusal;
        }
        return body;
      });
    });
  }

  function run(form) {
    var creating = form.getAttribute("data-passkey") === "create";
    var buttons = form.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (button) { button.disabled = true; });
    clearError(form);
    fetchOptions(form)
      .then(function (options) {
        if (creating) return navigator.credentials.create({ publicKey: creationOptions(options) });
        return navigator.credentials.get({ publicKey: requestOptions(options) });
      })
      .then(function (credential) {
        if (!credential) throw new Error("no credential");
        form.elements.credential.value = credentialJSON(credential);
        // submit() sends the form without firing "submit" again.
        form.submit();
      })
      .catch(function (error) {
        Array.prototype.forEach.call(buttons, function (button) { button.disabled = false; });
        if (error && error.fromServer) showError(form, error.message, error.field);
        else showError(form, browserMessage(error, creating));
      });
  }

  function supported() {
    return Boolean(window.PublicKeyCredential && navigator.credentials && window.fetch);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-passkey]")) return;
    event.preventDefault();
    if (!supported()) {
      showError(form, "This browser cannot use passkeys. Sign in another way.");
      return;
    }
    run(form);
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (!supported()) return;
    Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-only]"), function (element) {
      element.hidden = false;
    });
  });
})();
