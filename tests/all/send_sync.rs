//! Compile-time checks that the embedder types keep their auto traits: a
//! change that makes one !Send or !Sync fails to build here.

#![allow(dead_code)]

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn send_sync<T: Send + Sync>() {}

fn embedder_types_are_send_and_sync() {
    send_sync::<hz::Runtime>();
    send_sync::<hz::AgentHandle>();
    send_sync::<hz::Channel>();
    send_sync::<hz::Host>();
    send_sync::<hz::Value>();
    send_sync::<hz::Payload>();
    send_sync::<hz::HostObject>();
    send_sync::<hz::Error>();
    send_sync::<hz::JoinError>();
    send::<hz::AgentSpec>();
    sync::<hz::AgentSpec>();
}

#[cfg(feature = "quickjs")]
fn quickjs_agents_migrate() {
    // MIGRATABLE = true requires the engine instance to be Send.
    send::<hz_backend_quickjs::QuickJsAgent>();
    send_sync::<hz::QuickJsEngine>();
}
