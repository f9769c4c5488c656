//! OS user names of uids, read from `/etc/passwd` (no C library call, so no `unsafe`).

/// The login name of `uid`, when the password file knows it.
pub fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    name_in_passwd(&passwd, uid)
}

/// `uid`'s login name, or `uid N` when it has none: for messages.
pub fn describe_uid(uid: u32) -> String {
    user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
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

    #[test]
    fn root_is_named_and_an_unknown_uid_is_shown_as_a_number() {
        assert_eq!(describe_uid(0), "root");
        assert_eq!(describe_uid(4_000_000_000), "uid 4000000000");
    }
}
