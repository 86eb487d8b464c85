//! Which signaling server a call uses: the one given with `--server`, one this process hosts
//! (`--create`, on the LAN with `--host`), or the one on the LAN that has the room
//! (`--room` alone).

use std::process::ExitCode;

use tincan_discovery::{find_room, DiscoveryError, Host, Reach, SEARCH_TIME};

use super::{exit, CallArgs};

/// The server's address, and the server this process hosts (kept running for the call).
pub async fn choose(args: &CallArgs) -> Result<(String, Option<Host>), ExitCode> {
    if let Some(server) = &args.server {
        return Ok((server.clone(), None));
    }
    match &args.room {
        Some(code) if !args.create => match find_room(code, SEARCH_TIME).await {
            Ok(found) => {
                println!("found {code} at {}", found.server);
                Ok((found.server, None))
            }
            Err(e) => {
                eprintln!("tincan-cli: {e}");
                Err(ExitCode::from(match e {
                    DiscoveryError::NotFound | DiscoveryError::BadCode(_) => exit::ROOM,
                    _ => exit::UNREACHABLE,
                }))
            }
        },
        _ => {
            let reach = if args.host {
                Reach::Lan
            } else {
                Reach::ThisComputer
            };
            match Host::start(reach, args.host_port).await {
                Ok(host) => {
                    match host.lan_url() {
                        Some(url) => println!("hosting {url}"),
                        None if args.host => {
                            println!("hosting {} (no network found)", host.local_url())
                        }
                        None => println!(
                            "hosting {} (this computer only; --host lets your network in)",
                            host.local_url()
                        ),
                    }
                    Ok((host.local_url(), Some(host)))
                }
                Err(e) => {
                    eprintln!("tincan-cli: {e}");
                    Err(ExitCode::from(exit::UNREACHABLE))
                }
            }
        }
    }
}

/// The guest page's link for `room` on a hosted server the network can reach.
pub fn guest_link(host: &Host, room: &str) -> Option<String> {
    host.lan_base().map(|base| format!("{base}/r/{room}"))
}
