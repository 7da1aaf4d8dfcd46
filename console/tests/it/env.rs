//! What a child sees: exactly PATH, LANG, OPENCLAW_RUN_ID and its
//! parameters in the environment; no token, no other key of the console's
//! environment; parameters never in argv. The canary token appears in no
//! output, artifact, log or argv.

use test_support::ArgvWatch;

use crate::support::{Console, TOKEN, script};

const PARAM_CANARY: &str = "paramcanary-5c1d";
const OTHER_KEY: &str = "sk-canary-openai-key-0123456789abcdef";

#[test]
fn a_child_gets_a_cleared_environment_and_no_param_in_argv() {
    let host = Console::host_with(|h| {
        let args = script(h, "args", "sleep 1\nprintf '%s\\n' \"$0\" \"$@\"");
        format!(
            "[[action]]\nid = \"env\"\nlabel = \"env\"\ndescription = \"prints its environment\"\nargv = [\"/usr/bin/env\"]\ntimeout_sec = 5\n\
             [action.params.secret]\ntype = \"string\"\nmax_len = 64\npattern = \"[a-z0-9-]+\"\n\
             [[action]]\nid = \"args\"\nlabel = \"args\"\ndescription = \"prints its argv\"\nargv = [\"{}\", \"fixed\"]\ntimeout_sec = 5\n\
             [action.params.secret]\ntype = \"string\"\nmax_len = 64\npattern = \"[a-z0-9-]+\"\n",
            args.display()
        )
    });
    // The console itself holds the token and another key in its environment.
    let c = Console::start_on(
        host,
        "",
        &[("OPENCLAW_CONSOLE_TOKEN", TOKEN), ("OPENAI_API_KEY", OTHER_KEY), ("LANG", "en_US.UTF-8")],
    );
    let watch = ArgvWatch::start(&[PARAM_CANARY, TOKEN, OTHER_KEY]);
    let env = c.exec(&format!(r#"{{"action":"env","params":{{"secret":"{PARAM_CANARY}"}}}}"#));
    let args = c.exec(&format!(r#"{{"action":"args","params":{{"secret":"{PARAM_CANARY}"}}}}"#));
    let seen = watch.stop();
    assert!(seen.is_empty(), "a canary was in argv: {seen:?}");
    assert_eq!(env.status, 200, "{}", String::from_utf8_lossy(&env.body));
    let j = env.json();
    let mut keys: Vec<String> =
        j["stdout"].as_str().unwrap().lines().map(|l| l.split_once('=').unwrap().0.to_owned()).collect();
    keys.sort();
    assert_eq!(keys, ["LANG", "OPENCLAW_PARAM_SECRET", "OPENCLAW_RUN_ID", "PATH"]);
    let stdout = j["stdout"].as_str().unwrap();
    assert!(stdout.contains(&format!("OPENCLAW_PARAM_SECRET={PARAM_CANARY}")));
    assert!(stdout.contains(&format!("OPENCLAW_RUN_ID={}", j["run_id"].as_str().unwrap())));
    assert!(stdout.contains("LANG=en_US.UTF-8"));
    let a = args.json();
    assert_eq!(a["stdout"].as_str().unwrap().lines().skip(1).collect::<Vec<_>>(), ["fixed"], "{a}");
    // params.json carries the checked values for the child too.
    let params = std::fs::read_to_string(
        c.host.path(&format!("artifacts/console/{}/params.json", j["run_id"].as_str().unwrap())),
    )
    .unwrap();
    assert!(params.contains(PARAM_CANARY));
    // The token: nowhere but where the test put it.
    for text in
        [String::from_utf8_lossy(&env.body).into_owned(), String::from_utf8_lossy(&args.body).into_owned(), c.stderr()]
    {
        assert!(!text.contains(TOKEN) && !text.contains(OTHER_KEY));
    }
    c.host.assert_not_persisted(TOKEN, &["secrets"]);
    c.host.assert_not_persisted(OTHER_KEY, &[]);
}
