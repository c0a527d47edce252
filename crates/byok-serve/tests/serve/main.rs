//! `byok-serve` over real HTTP: a server on 127.0.0.1:0 per test, reqwest as the
//! client, the testkit's mock providers behind the Test button. SQLite by
//! default; the PostgreSQL runs when `BYOK_TEST_POSTGRES_URL` is set. `ui`
//! drives the Provider Vault page in a headless Chromium over WebDriver.

mod api;
mod authz;
mod canary;
mod common;
mod openapi;
mod ops;
mod proxy;
mod shared;
mod tls;
mod ui;
mod webdriver;
