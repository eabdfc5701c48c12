// The API's base URL for the landing page: empty = this page's own origin (make run). The hosted pages
// (infra/pages.py) replace this file at deploy time with the deployed API's URL.
window.INCENTIVES_API_URL = "";
