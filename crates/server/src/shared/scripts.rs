//! The shared store's atomic steps, as Lua scripts Redis runs whole (lua/*.lua; each is the
//! prelude plus its own part). `redis::Script` sends a script by its hash and loads it again
//! when Redis forgot it (a restart). The relay, run for every signal, stands alone.

use redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn with_prelude(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

pub struct Scripts {
    pub create: Script,
    pub join: Script,
    pub relay: Script,
    pub leave: Script,
    pub lost: Script,
    pub expire: Script,
    pub restore: Script,
}

impl Scripts {
    pub fn new() -> Self {
        Self {
            create: with_prelude(include_str!("lua/create.lua")),
            join: with_prelude(include_str!("lua/join.lua")),
            relay: Script::new(include_str!("lua/relay.lua")),
            leave: with_prelude(include_str!("lua/leave.lua")),
            lost: with_prelude(include_str!("lua/lost.lua")),
            expire: with_prelude(include_str!("lua/expire.lua")),
            restore: with_prelude(include_str!("lua/restore.lua")),
        }
    }
}
