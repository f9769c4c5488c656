//! Who is calling: on the local socket, the OS user of the connecting process, from the
//! socket's peer credentials (the socket is mode 0600, so that is dkd's own user).

use tonic::{Request, transport::server::UdsConnectInfo};

/// The caller's user name, or `uid-N` when the user database does not know the uid.
pub fn caller<T>(request: &Request<T>) -> String {
    let uid = request
        .extensions()
        .get::<UdsConnectInfo>()
        .and_then(|info| info.peer_cred)
        .map(|cred| cred.uid());
    match uid {
        Some(uid) => user_name(uid).unwrap_or_else(|| format!("uid-{uid}")),
        None => "unknown".to_owned(),
    }
}

/// The login name of `uid` from `/etc/passwd`.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    name_in_passwd(&passwd, uid)
}

fn name_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_named_from_the_password_file() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\n# comment\ncarol:x:1000:1000::/home/carol:/bin/sh\n";
        assert_eq!(name_in_passwd(passwd, 1000).as_deref(), Some("carol"));
        assert_eq!(name_in_passwd(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_in_passwd(passwd, 42), None);
    }
}
