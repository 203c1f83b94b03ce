//! The REST API through a real server: one binary, one fresh database per test.
mod accounts;
mod apikeys;
mod batches;
mod dashboard;
mod delivery;
mod edges;
mod helpers;
mod hostile;
mod invites;
mod keys;
mod login;
mod management;
mod matrix;
mod openapi;
mod refresh;
mod registration;
mod replicas;
