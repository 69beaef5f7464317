//! `--reuse-port`: two gateway processes (here two nodes in one process,
//! which the kernel treats alike) bind one port; both accept sessions, and
//! every session gets exactly its own filter's matches, whichever node holds it.

mod common;

use std::sync::atomic::Ordering::Relaxed;

use clicktail_gateway::Gateway;
use common::{admin_at, config, Node};

/// Sessions opened: the kernel hashes each connection's ports to one of the
/// two listeners, so 40 sessions all landing on one node has odds of 2^-39.
const SESSIONS: usize = 40;

#[test]
fn two_gateways_with_reuse_port_share_a_port_and_each_session_gets_its_own_matches() {
    let mut first_config = config();
    first_config.reuse_port = true;
    first_config.node_name = "first".into();
    let node = Node::start(first_config);
    let address = node.address();
    let mut second_config = config();
    second_config.reuse_port = true;
    second_config.node_name = "second".into();
    second_config.listen = address;
    let second = Gateway::start(second_config, node.log.clone(), node.registry.clone()).unwrap();
    assert_eq!(second.local_address(), address);

    let mut clients = Vec::new();
    let mut filters = Vec::new();
    for user in 0..SESSIONS {
        let mut client = admin_at(address, "", &[]).unwrap();
        filters.push(client.subscribe(&format!("user.id == \"u-{user}\"")));
        clients.push(client);
    }
    let first_sessions = node.metrics().admin_sessions_open.load(Relaxed);
    let second_sessions = second.metrics().admin_sessions_open.load(Relaxed);
    assert_eq!(first_sessions + second_sessions, SESSIONS as i64);
    assert!(first_sessions > 0 && second_sessions > 0, "sessions: {first_sessions} and {second_sessions}");

    node.wait_live(&filters);
    let events: Vec<String> =
        (0..SESSIONS).map(|user| format!(r#"{{"type":"click","user":{{"id":"u-{user}"}},"n":{user}}}"#)).collect();
    node.produce(&events.iter().map(String::as_str).collect::<Vec<_>>());
    for (user, client) in clients.iter_mut().enumerate() {
        let frame = client.next_json();
        assert_eq!(frame["type"], "event", "{frame}");
        assert_eq!(frame["filter"], filters[user], "{frame}");
        assert_eq!(frame["event"]["user"]["id"], format!("u-{user}"), "{frame}");
    }
    // Each record reached both nodes; the one without the route counted it
    // unrouted, and no session got a second copy.
    for client in &mut clients {
        client.send_json(serde_json::json!({"type": "heartbeat"}));
        let reply = client.next_json();
        assert_eq!(reply["type"], "heartbeat_ack", "no other frame may come first: {reply}");
    }
    second.stop();
}

#[test]
fn without_reuse_port_a_second_gateway_cannot_bind_the_port() {
    let node = Node::start(config());
    let mut second_config = config();
    second_config.listen = node.address();
    let error = match Gateway::start(second_config, node.log.clone(), node.registry.clone()) {
        Ok(gateway) => {
            gateway.stop();
            panic!("a second gateway bound the port without --reuse-port")
        }
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&node.address().to_string()), "{error}");
}
