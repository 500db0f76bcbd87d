//! Self-tests of the proxy's MFA emulation (`Proxy::require_mfa`): what real IAM does to a user
//! under AWS's "manage your own credentials, with MFA" policy, checked with the Rust SDK and the
//! AWS CLI (two SigV4 implementations) against moto through the proxy.

mod support;

use aws_credential_types::Credentials;
use aws_smithy_types::error::display::DisplayErrorContext;
use support::proxy::{Failure, Proxy};
use support::{REGION, TestEnv, User, block_on, moto};

const CODE: &str = "123456";

fn serial(user: &User) -> String {
    format!("arn:aws:iam::123456789012:mfa/{}", user.name)
}

fn long_term(user: &User) -> Credentials {
    Credentials::new(&user.key_id, &user.secret, None, None, "test")
}

fn iam(url: &str, creds: Credentials) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(creds)
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

fn sts(url: &str, creds: Credentials) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(creds)
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// An error as text, with the service's code and message.
fn text<E: std::error::Error>(e: E) -> String {
    format!("{}", DisplayErrorContext(e))
}

/// The keys ListAccessKeys shows `creds` for `user`, sorted.
fn list_keys(url: &str, creds: Credentials, user: &User) -> Result<Vec<String>, String> {
    block_on(async {
        let out = iam(url, creds)
            .list_access_keys()
            .user_name(&user.name)
            .send()
            .await
            .map_err(text)?;
        let mut ids: Vec<String> = out
            .access_key_metadata()
            .iter()
            .filter_map(|m| m.access_key_id().map(String::from))
            .collect();
        ids.sort();
        Ok(ids)
    })
}

fn whoami(url: &str, creds: Credentials) -> Result<String, String> {
    block_on(async {
        let out = sts(url, creds)
            .get_caller_identity()
            .send()
            .await
            .map_err(text)?;
        Ok(out.arn().unwrap_or_default().to_string())
    })
}

/// GetSessionToken signed with `creds`, with an MFA `serial` and `code` if given.
fn get_session(
    url: &str,
    creds: Credentials,
    mfa: Option<(&str, &str)>,
    duration: Option<i32>,
) -> Result<Credentials, String> {
    block_on(async {
        let out = sts(url, creds)
            .get_session_token()
            .set_serial_number(mfa.map(|(s, _)| s.to_string()))
            .set_token_code(mfa.map(|(_, c)| c.to_string()))
            .set_duration_seconds(duration)
            .send()
            .await
            .map_err(text)?;
        let c = out.credentials().expect("credentials");
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "t",
        ))
    })
}

/// A user under the MFA rule, a proxy in front of moto, and a session obtained with a code.
fn mfa_session(prefix: &str) -> (User, Proxy, Credentials) {
    let user = moto().user(prefix);
    let proxy = Proxy::start(&moto().url);
    proxy.require_mfa(&user, &serial(&user));
    proxy.accept_mfa_code(&serial(&user), CODE);
    let session = get_session(
        &proxy.url,
        long_term(&user),
        Some((&serial(&user), CODE)),
        None,
    )
    .unwrap();
    (user, proxy, session)
}

#[test]
fn long_term_key_is_denied_all_but_the_mfa_self_service_actions() {
    let user = moto().user("mfa-deny");
    // An upstream that refuses connections: whatever the proxy forwards fails.
    let dead = Proxy::start("http://127.0.0.1:1");
    dead.require_mfa(&user, &serial(&user));
    let e = list_keys(&dead.url, long_term(&user), &user).unwrap_err();
    assert!(e.contains("AccessDenied"), "{e}");
    assert!(e.contains("explicit deny"), "{e}");
    assert!(
        e.contains(&format!(
            "User: arn:aws:iam::123456789012:user/{0} is not authorized to perform: iam:ListAccessKeys on resource: user {0}",
            user.name
        )),
        "{e}"
    );
    let seen = dead.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].status, 403);
    assert!(!seen[0].session);

    // Through a proxy in front of moto: a denied CreateAccessKey creates nothing.
    let proxy = Proxy::start(&moto().url);
    proxy.require_mfa(&user, &serial(&user));
    let e = block_on(async {
        iam(&proxy.url, long_term(&user))
            .create_access_key()
            .user_name(&user.name)
            .send()
            .await
            .map_err(text)
    })
    .unwrap_err();
    assert!(e.contains("explicit deny"), "{e}");
    assert_eq!(moto().keys(&user), vec![(user.key_id.clone(), true)]);
    // GetCallerIdentity cannot be denied.
    assert_eq!(whoami(&proxy.url, long_term(&user)).unwrap(), user.arn);
    // Other users are not affected.
    let other = moto().user("mfa-other");
    assert_eq!(
        list_keys(&proxy.url, long_term(&other), &other).unwrap(),
        vec![other.key_id.clone()]
    );
}

#[test]
fn get_session_token_checks_serial_and_code_once() {
    let user = moto().user("mfa-code");
    let proxy = Proxy::start(&moto().url);
    let serial = serial(&user);
    proxy.require_mfa(&user, &serial);
    proxy.accept_mfa_code(&serial, CODE);

    let e = get_session(
        &proxy.url,
        long_term(&user),
        Some((&serial, "654321")),
        None,
    )
    .unwrap_err();
    assert!(e.contains("invalid MFA one time pass code"), "{e}");
    let e = get_session(
        &proxy.url,
        long_term(&user),
        Some(("arn:aws:iam::123456789012:mfa/someone-else", CODE)),
        None,
    )
    .unwrap_err();
    assert!(e.contains("unable to validate MFA code"), "{e}");
    // A bad signature is moto's to reject, before any code is looked at (or consumed).
    let forged = Credentials::new(&user.key_id, "not-the-secret", None, None, "t");
    let e = get_session(&proxy.url, forged, Some((&serial, CODE)), None).unwrap_err();
    assert!(e.contains("SignatureDoesNotMatch"), "{e}");
    assert!(proxy.sessions().is_empty());

    let session = get_session(
        &proxy.url,
        long_term(&user),
        Some((&serial, CODE)),
        Some(900),
    )
    .unwrap();
    let minted = proxy.sessions();
    assert_eq!(minted.len(), 1);
    let m = &minted[0];
    assert_eq!(m.key_id, session.access_key_id());
    assert_eq!(m.secret, session.secret_access_key());
    assert_eq!(Some(m.token.as_str()), session.session_token());
    assert!(
        m.key_id.starts_with("ASIA") && m.key_id.len() == 20,
        "{m:?}"
    );
    assert_eq!(m.secret.len(), 40);
    assert!(m.token.len() >= 300);
    assert_eq!(m.parent_key_id, user.key_id);
    assert_eq!(m.duration_secs, 900);
    assert!(m.with_mfa);

    // A code works once.
    let e = get_session(&proxy.url, long_term(&user), Some((&serial, CODE)), None).unwrap_err();
    assert!(e.contains("invalid MFA one time pass code"), "{e}");
    // Durations outside 900 s to 36 h are refused.
    proxy.accept_mfa_code(&serial, "111111");
    let e = get_session(
        &proxy.url,
        long_term(&user),
        Some((&serial, "111111")),
        Some(60),
    )
    .unwrap_err();
    assert!(e.contains("ValidationError"), "{e}");
    // Session credentials cannot get another session.
    let e = get_session(&proxy.url, session, Some((&serial, "111111")), None).unwrap_err();
    assert!(
        e.contains("Cannot call GetSessionToken with session credentials"),
        "{e}"
    );
    assert_eq!(proxy.sessions().len(), 1);
}

#[test]
fn an_mfa_session_rotates_and_outlives_its_parent_key() {
    let (user, proxy, session) = mfa_session("mfa-rotate");
    assert_eq!(
        list_keys(&proxy.url, session.clone(), &user).unwrap(),
        vec![user.key_id.clone()]
    );
    assert_eq!(whoami(&proxy.url, session.clone()).unwrap(), user.arn);

    // Create, deactivate and delete with the session, as a rotation does.
    let (new_id, new_secret) = block_on(async {
        let k = iam(&proxy.url, session.clone())
            .create_access_key()
            .user_name(&user.name)
            .send()
            .await
            .map_err(text)
            .unwrap();
        let k = k.access_key().unwrap();
        (
            k.access_key_id().to_string(),
            k.secret_access_key().to_string(),
        )
    });
    let mut both = vec![user.key_id.clone(), new_id.clone()];
    both.sort();
    assert_eq!(list_keys(&proxy.url, session.clone(), &user).unwrap(), both);
    // The new key is the user's too: denied without MFA, and it authenticates.
    let new = Credentials::new(&new_id, &new_secret, None, None, "t");
    let e = list_keys(&proxy.url, new.clone(), &user).unwrap_err();
    assert!(e.contains("explicit deny"), "{e}");
    assert_eq!(whoami(&proxy.url, new).unwrap(), user.arn);

    block_on(async {
        let iam = iam(&proxy.url, session.clone());
        iam.update_access_key()
            .user_name(&user.name)
            .access_key_id(&user.key_id)
            .status(aws_sdk_iam::types::StatusType::Inactive)
            .send()
            .await
            .map_err(text)
            .unwrap();
    });
    // An Inactive parent key is rejected; the session it obtained is not.
    let e = whoami(&proxy.url, long_term(&user)).unwrap_err();
    assert!(e.contains("InvalidClientTokenId"), "{e}");
    assert_eq!(list_keys(&proxy.url, session.clone(), &user).unwrap(), both);

    block_on(async {
        iam(&proxy.url, session.clone())
            .delete_access_key()
            .user_name(&user.name)
            .access_key_id(&user.key_id)
            .send()
            .await
            .map_err(text)
            .unwrap();
    });
    assert_eq!(moto().keys(&user), vec![(new_id.clone(), true)]);
    // The session keeps working after its parent key is gone.
    assert_eq!(
        list_keys(&proxy.url, session.clone(), &user).unwrap(),
        vec![new_id.clone()]
    );
    assert_eq!(whoami(&proxy.url, session).unwrap(), user.arn);

    // Every IAM call carried the session token; one GetSessionToken, with the long-term key.
    let seen = proxy.seen();
    let gets: Vec<_> = seen
        .iter()
        .filter(|s| s.action == "GetSessionToken")
        .collect();
    assert_eq!(gets.len(), 1);
    assert!(!gets[0].session && gets[0].key_id == user.key_id && gets[0].status == 200);
    let session_calls = seen
        .iter()
        .filter(|s| s.session)
        .map(|s| s.action.as_str())
        .collect::<Vec<_>>();
    assert_eq!(
        session_calls,
        [
            "ListAccessKeys",
            "GetCallerIdentity",
            "CreateAccessKey",
            "ListAccessKeys",
            "UpdateAccessKey",
            "ListAccessKeys",
            "DeleteAccessKey",
            "ListAccessKeys",
            "GetCallerIdentity"
        ]
    );
    assert!(
        seen.iter()
            .filter(|s| s.session)
            .all(|s| s.status == 200 && s.key_id.starts_with("ASIA")),
        "{seen:?}"
    );
}

#[test]
fn a_session_without_mfa_cannot_call_iam() {
    let user = moto().user("mfa-none");
    let proxy = Proxy::start(&moto().url);
    proxy.require_mfa(&user, &serial(&user));
    let session = get_session(&proxy.url, long_term(&user), None, None).unwrap();
    let minted = proxy.sessions();
    assert!(!minted[0].with_mfa);
    assert_eq!(minted[0].duration_secs, 43_200);
    let e = list_keys(&proxy.url, session.clone(), &user).unwrap_err();
    assert!(e.contains("InvalidClientTokenId"), "{e}");
    // STS accepts it.
    assert_eq!(whoami(&proxy.url, session).unwrap(), user.arn);
}

#[test]
fn session_credentials_are_verified() {
    let (user, proxy, session) = mfa_session("mfa-verify");
    let token = session.session_token().unwrap().to_string();
    let wrong_secret = Credentials::new(
        session.access_key_id(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        Some(token.clone()),
        None,
        "t",
    );
    let e = list_keys(&proxy.url, wrong_secret, &user).unwrap_err();
    assert!(e.contains("SignatureDoesNotMatch"), "{e}");
    let wrong_token = Credentials::new(
        session.access_key_id(),
        session.secret_access_key(),
        Some(format!("{token}x")),
        None,
        "t",
    );
    let e = list_keys(&proxy.url, wrong_token, &user).unwrap_err();
    assert!(e.contains("InvalidClientTokenId"), "{e}");
    let no_token = Credentials::new(
        session.access_key_id(),
        session.secret_access_key(),
        None,
        None,
        "t",
    );
    let e = list_keys(&proxy.url, no_token, &user).unwrap_err();
    assert!(e.contains("InvalidClientTokenId"), "{e}");
    // The right credentials still work.
    assert_eq!(
        list_keys(&proxy.url, session.clone(), &user).unwrap(),
        vec![user.key_id.clone()]
    );

    proxy.expire_sessions();
    let e = list_keys(&proxy.url, session.clone(), &user).unwrap_err();
    assert!(e.contains("ExpiredToken"), "{e}");
    let e = whoami(&proxy.url, session).unwrap_err();
    assert!(e.contains("ExpiredToken"), "{e}");
}

#[test]
fn the_proxy_rules_apply_to_session_calls() {
    let (user, proxy, session) = mfa_session("mfa-rules");
    proxy.fail_times(
        "ListAccessKeys",
        Failure::access_denied("ListAccessKeys"),
        1,
    );
    let e = list_keys(&proxy.url, session.clone(), &user).unwrap_err();
    assert!(e.contains("no identity-based policy allows"), "{e}");
    assert!(list_keys(&proxy.url, session.clone(), &user).is_ok());

    // A new key created with the session propagates like any other.
    proxy.delay_new_keys(std::time::Duration::from_secs(60));
    let (new_id, new_secret) = block_on(async {
        let k = iam(&proxy.url, session.clone())
            .create_access_key()
            .user_name(&user.name)
            .send()
            .await
            .map_err(text)
            .unwrap();
        let k = k.access_key().unwrap();
        (
            k.access_key_id().to_string(),
            k.secret_access_key().to_string(),
        )
    });
    let e = whoami(
        &proxy.url,
        Credentials::new(&new_id, &new_secret, None, None, "t"),
    )
    .unwrap_err();
    assert!(e.contains("InvalidClientTokenId"), "{e}");

    // An answer dropped after GetSessionToken took effect: the code is spent.
    proxy.accept_mfa_code(&serial(&user), "222222");
    proxy.drop_answer_times("GetSessionToken", 1);
    assert!(
        get_session(
            &proxy.url,
            long_term(&user),
            Some((&serial(&user), "222222")),
            None
        )
        .is_err()
    );
    assert_eq!(proxy.sessions().len(), 2);
}

/// botocore signs differently from the Rust SDK (other headers, other order): the proxy verifies
/// and re-signs its requests too.
#[test]
fn the_aws_cli_works_with_a_session() {
    let (user, proxy, session) = mfa_session("mfa-cli");
    let mut env = TestEnv::with_endpoint(&proxy.url);
    env.extra_env = vec![
        (
            "AWS_ACCESS_KEY_ID".into(),
            session.access_key_id().to_string(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            session.secret_access_key().to_string(),
        ),
        (
            "AWS_SESSION_TOKEN".into(),
            session.session_token().unwrap().to_string(),
        ),
    ];
    let run = env.aws(&[
        "iam",
        "list-access-keys",
        "--user-name",
        &user.name,
        "--output",
        "json",
    ]);
    run.success();
    assert_eq!(
        run.json()["AccessKeyMetadata"][0]["AccessKeyId"],
        user.key_id.as_str()
    );
    let last = proxy.seen().pop().unwrap();
    assert!(last.session && last.status == 200, "{last:?}");

    env.extra_env[1].1 = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into();
    let run = env.aws(&["iam", "list-access-keys", "--user-name", &user.name]);
    assert!(
        run.stderr.contains("SignatureDoesNotMatch"),
        "{}",
        run.stderr
    );
}
