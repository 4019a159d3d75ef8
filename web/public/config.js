// Runtime settings of the web client. Deployments replace this file (nginx serves its own
// with apiBase "/api/v1/web"); the bundle reads window.RUGPT_CONFIG at start.
window.RUGPT_CONFIG = { apiBase: "/api/v1" };
