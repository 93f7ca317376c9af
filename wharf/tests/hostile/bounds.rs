//! Attacks on the host's bounds: a guest that blocks while it is instantiated, holds many
//! memories, takes the engine's instance pool, hoards open files, answers more than the host
//! should copy, writes escape sequences into its errors or header injections into its redirect
//! URLs, walks forever, or hides user information in an HTTP authority. Each must end within
//! its deadline with the right kind, naming the bound, with the host's memory and descriptors
//! bounded.

use wharf::wasm::RuntimeOptions;
use wharf::wasm::engine::{MEMORIES_PER_INSTANCE, POOL_INSTANCES};

use super::*;

/// Descriptors the process has open now.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Asserts that `text` carries no control character (no terminal escape, no line break).
fn printable(what: &str, text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "{what}: control characters reached the error: {text:?}"
    );
}

/// The hostile guest's policy with an instantiation that blocks in a host call while the file
/// `instantiation-sleeps` exists in its directory.
fn sleeps_when_switched(sandbox: &Sandbox) -> SandboxPolicy {
    let mut p = policy(Some(&sandbox.data()));
    p.env = vec![(
        "WHARF_HOSTILE_AT_INSTANTIATION".into(),
        "sleep-if:/data/instantiation-sleeps".into(),
    )];
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_while_instantiated_times_out_and_counts_in_the_budget() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let mut p = sleeps_when_switched(&sandbox);
    p.restart_budget = 2;
    let (_registry, driver) = hostile_with(p, &[("mode", "panic")]).await;
    put_kept(&driver).await;
    // From now on a new instance blocks in a host call while it is instantiated.
    std::fs::write(sandbox.data().join("instantiation-sleeps"), "").expect("switch");
    let (result, _) = bounded("panic", driver.get_content("/hostile")).await;
    failed("panic", result, &ErrorKind::DriverFault);
    // Each call now waits for a replacement that never comes: each ends at its deadline,
    // holding nothing, and counts as a fault.
    for round in 0..2 {
        let (result, _) = bounded("instantiation", driver.get_content("/kept")).await;
        let text = failed(
            &format!("blocked instantiation {round}"),
            result,
            &ErrorKind::Timeout,
        );
        assert!(text.contains("instantiate"), "{text}");
    }
    // Three faults within the window, two allowed: the next call is refused at once, without
    // trying (and waiting for) another instance.
    let (result, took) = bounded("budget", driver.get_content("/kept")).await;
    let text = failed("budget", result, &ErrorKind::DriverFault);
    assert!(text.contains("no new instance"), "{text}");
    assert!(
        took < DEADLINE,
        "the refused call waited {took:?}, as if it had tried to instantiate"
    );
    // Once the guest can start again and the back-off is over, it serves again.
    std::fs::remove_file(sandbox.data().join("instantiation-sleeps")).expect("switch back");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (got, _) = bounded("after the back-off", driver.get_content("/kept")).await;
    assert_eq!(got.expect("served again"), "kept content".as_bytes());
}

/// After a fault, the pool makes a standby instance in the background; the next fault swaps it
/// in, so the call after it is served even when no new instance could start by then (here:
/// instantiation blocks from the switch on, after the standby was made).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_swaps_in_the_standby_made_after_the_one_before() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let p = sleeps_when_switched(&sandbox);
    let (_registry, driver) = hostile_with(p, &[("mode", "panic")]).await;
    put_kept(&driver).await;
    let (result, _) = bounded("first panic", driver.get_content("/hostile")).await;
    failed("first panic", result, &ErrorKind::DriverFault);
    let (got, _) = bounded("after the first panic", driver.get_content("/kept")).await;
    assert_eq!(got.expect("served again"), "kept content".as_bytes());
    // The standby (a start of a few milliseconds) is made by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::write(sandbox.data().join("instantiation-sleeps"), "").expect("switch");
    let (result, _) = bounded("second panic", driver.get_content("/hostile")).await;
    failed("second panic", result, &ErrorKind::DriverFault);
    let (got, _) = bounded("on the standby", driver.get_content("/kept")).await;
    assert_eq!(
        got.expect("the standby serves the call after the fault"),
        "kept content".as_bytes()
    );
    std::fs::remove_file(sandbox.data().join("instantiation-sleeps")).expect("switch back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_instantiation_fails_driver_creation_within_the_deadline() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.env = vec![("WHARF_HOSTILE_AT_INSTANTIATION".into(), "sleep".into())];
    let mut registry = DriverRegistry::new();
    register_guest(&mut registry, "hostile", component().await, p).expect("register");
    let (created, _) = bounded("create", registry.create("hostile", Params::new())).await;
    let text = failed("create", created.map(|_| ()), &ErrorKind::Timeout);
    assert!(text.contains("instantiate"), "{text}");
}

/// The hostile component with `count` more core modules instantiated in it, each with a
/// memory of `pages` 64 KiB pages that its start function fills (so the pages are really
/// committed): a component holding many memories.
fn with_memories(count: u32, pages: u64) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ComponentSection, Function, FunctionSection, InstanceSection, Instruction,
        MemorySection, MemoryType, Module, ModuleArg, ModuleSection, StartSection, TypeSection,
    };
    let mut bytes = std::fs::read(wharf_guest_artifacts::HOSTILE_PATH).expect("read the component");
    // Core modules at the top level of the component: the next one gets this index.
    let mut modules = 0;
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload.expect("parse the component") {
            wasmparser::Payload::ModuleSection { .. } => {
                if depth == 0 {
                    modules += 1;
                }
                depth += 1;
            }
            wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    module.section(&types);
    let mut functions = FunctionSection::new();
    functions.function(0);
    module.section(&functions);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: pages,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    module.section(&StartSection { function_index: 0 });
    let mut code = CodeSection::new();
    let mut fill = Function::new([]);
    let size = i32::try_from(pages * 65536).expect("a small memory");
    fill.instruction(&Instruction::I32Const(0))
        .instruction(&Instruction::I32Const(1))
        .instruction(&Instruction::I32Const(size))
        .instruction(&Instruction::MemoryFill(0))
        .instruction(&Instruction::End);
    code.function(&fill);
    module.section(&code);
    ModuleSection(&module).append_to_component(&mut bytes);
    let mut instances = InstanceSection::new();
    for _ in 0..count {
        instances.instantiate(modules, std::iter::empty::<(&str, ModuleArg)>());
    }
    instances.append_to_component(&mut bytes);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_memories_than_an_instance_may_hold_are_refused_at_load() {
    let _shared = SERIAL.read().await;
    let wasm = with_memories(MEMORIES_PER_INSTANCE, 1);
    let runtime = GuestRuntime::global().expect("the component host");
    let loaded = runtime.load_bytes(wasm, "hostile+memories").await;
    let text = match loaded {
        Ok(_) => panic!("a component with more memories than allowed was loaded"),
        Err(e) => e.to_string(),
    };
    assert!(
        text.contains("hostile+memories") && text.contains("memories"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_memory_of_an_instance_counts_against_its_limit() {
    let _alone = SERIAL.write().await;
    // Three more memories of 24 MiB each: each alone is under the 64 MiB limit, together
    // they are over it.
    let pages = (24 << 20) / 65536;
    let wasm = with_memories(MEMORIES_PER_INSTANCE - 1, pages);
    let runtime = GuestRuntime::global().expect("the component host");
    let component = runtime
        .load_bytes(wasm, "hostile+memories")
        .await
        .expect("load: describe runs under the default 256 MiB");
    let sandbox = Sandbox::new();
    let mut registry = DriverRegistry::new();
    register_guest(
        &mut registry,
        "memories",
        component,
        policy(Some(&sandbox.data())),
    )
    .expect("register");
    let ((), grown) = growth(async {
        for round in 0..4 {
            let (created, _) = bounded("create", registry.create("memories", Params::new())).await;
            let text = failed(
                &format!("round {round}"),
                created.map(|_| ()),
                &ErrorKind::DriverFault,
            );
            assert!(text.contains("memory limit"), "{text}");
        }
    })
    .await;
    assert!(
        grown < 2 * MEMORY_LIMIT,
        "instances limited to {} MiB grew the host by {} MiB",
        MEMORY_LIMIT >> 20,
        grown >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_driver_has_its_share_of_the_instance_pool() {
    let _shared = SERIAL.read().await;
    // A runtime of its own, so that no other test's drivers share its pool.
    let runtime = GuestRuntime::new(RuntimeOptions::default()).expect("a runtime");
    let component = runtime
        .load_file(Path::new(wharf_guest_artifacts::HOSTILE_PATH))
        .await
        .expect("load");
    let sandbox = Sandbox::new();
    let greedy = SandboxPolicy {
        instances: 256,
        ..policy(Some(&sandbox.data()))
    };
    let mut registry = DriverRegistry::new();
    register_guest(&mut registry, "greedy", component.clone(), greedy).expect("register");
    let mut drivers = Vec::new();
    while runtime.unreserved_instances() >= 256 {
        let created = registry.create("greedy", Params::new()).await;
        drivers.push(created.expect("a driver while the pool has room"));
    }
    assert_eq!(drivers.len(), (POOL_INSTANCES / 256) as usize);
    let left = runtime.unreserved_instances();
    let (refused, _) = bounded(
        "one driver too many",
        registry.create("greedy", Params::new()),
    )
    .await;
    let text = failed("one too many", refused.map(|_| ()), &ErrorKind::DriverFault);
    assert!(
        text.contains(&format!("{left} of its {POOL_INSTANCES} instances left"))
            && text.contains("instances"),
        "{text}"
    );
    // The drivers that have a share keep all of it: each runs 16 concurrent calls.
    for driver in &drivers {
        let calls = (0..16).map(|i| {
            let d = driver.clone();
            async move { d.put_content(&format!("/share/{i}"), "x".into()).await }
        });
        for result in futures::future::join_all(calls).await {
            result.expect("a driver with a share gets its instances");
        }
    }
    // A share is given back with its driver.
    drivers.pop();
    let created = registry.create("greedy", Params::new()).await;
    created.expect("a driver once a share was given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hoarding_open_files_is_a_fault_naming_the_bound() {
    let _alone = SERIAL.write().await;
    let sandbox = Sandbox::new();
    let driver = hostile(&sandbox, &[("mode", "hoard-files")]).await;
    put_kept(&driver).await;
    let before = instance(&driver).await;
    let descriptors = open_descriptors();
    let ((result, _), grown) = growth(bounded("hoard-files", driver.get_content("/hostile"))).await;
    assert!(
        grown < MEMORY_LIMIT,
        "hoarding files grew the host by {grown} bytes"
    );
    let text = failed("hoard-files", result, &ErrorKind::DriverFault);
    assert!(
        text.contains("open files") && text.contains("open_files"),
        "{text}"
    );
    recovered(&driver, &before).await;
    // The faulted instance is dropped off the caller's path, on a task of its own: its files
    // are closed within moments.
    let mut now = open_descriptors();
    for _ in 0..100 {
        if now < descriptors + 32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = open_descriptors();
    }
    assert!(
        now < descriptors + 32,
        "the host holds {} more descriptors 5 s after the guest's instance was replaced",
        now.saturating_sub(descriptors)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_larger_than_the_bound_is_a_fault_and_is_not_copied() {
    let _alone = SERIAL.write().await;
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.answers.bytes = 8 << 20;
    let size = (40u64 << 20).to_string();
    let (_registry, driver) = hostile_with(p, &[("mode", "huge-answer"), ("size", &size)]).await;
    put_kept(&driver).await;
    let before = instance(&driver).await;
    let ((result, _), grown) = growth(bounded("huge-answer", driver.get_content("/hostile"))).await;
    let text = failed("huge-answer", result, &ErrorKind::DriverFault);
    assert!(text.contains("answer_bytes"), "{text}");
    assert!(
        grown < MEMORY_LIMIT,
        "a refused answer grew the host by {} MiB",
        grown >> 20
    );
    recovered(&driver, &before).await;
    // Under the bound the same answer is fine.
    let (ok, _) = bounded(
        "small answer",
        hostile_with(
            policy(Some(&sandbox.data())),
            &[("mode", "huge-answer"), ("size", "1048576")],
        ),
    )
    .await;
    let (got, _) = bounded("1 MiB answer", ok.1.get_content("/hostile")).await;
    assert_eq!(got.expect("a 1 MiB answer").len(), 1 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_error_text_is_cut_and_cannot_drive_a_terminal() {
    let _alone = SERIAL.write().await;
    let sandbox = Sandbox::new();
    let driver = hostile(&sandbox, &[("mode", "loud-error")]).await;
    let ((result, _), grown) = growth(bounded("loud-error", driver.get_content("/hostile"))).await;
    assert!(
        grown < MEMORY_LIMIT,
        "a 1 MiB error grew the host by {grown} bytes"
    );
    let text = failed(
        "loud-error",
        result,
        &ErrorKind::Backend { temporary: false },
    );
    printable("loud-error", &text);
    assert!(text.contains("FORGED"), "{text}");
    assert!(text.len() < 2048, "{} bytes of error text", text.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_urls_must_be_plain_http_urls() {
    let _alone = SERIAL.write().await;
    let sandbox = Sandbox::new();
    for variant in 0..=6 {
        let v = variant.to_string();
        let (_registry, driver) = hostile_with(
            policy(Some(&sandbox.data())),
            &[("mode", "bad-url"), ("variant", &v)],
        )
        .await;
        let before = instance(&driver).await;
        let ((result, _), grown) = growth(bounded(
            "bad-url",
            driver.redirect_url(RedirectMethod::Get, "/hostile", Duration::from_secs(60)),
        ))
        .await;
        assert!(
            grown < MEMORY_LIMIT,
            "variant {variant} grew the host by {grown} bytes"
        );
        let text = failed(
            &format!("bad-url {variant}"),
            result,
            &ErrorKind::DriverFault,
        );
        assert!(text.contains("redirect URL"), "variant {variant}: {text}");
        printable(&format!("bad-url {variant}"), &text);
        assert!(text.len() < 2048, "variant {variant}: {} bytes", text.len());
        assert_ne!(instance(&driver).await, before, "variant {variant}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_walk_ends_at_the_walk_bound() {
    let _alone = SERIAL.write().await;
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.answers.walk_entries = 20_000;
    let (_registry, driver) = hostile_with(p, &[("mode", "endless-walk")]).await;
    put_kept(&driver).await;
    let before = instance(&driver).await;
    // Entries are counted, not kept: the host visits them and lets them go.
    let count = async {
        let mut visited = 0u64;
        let walked = driver
            .walk("/hostile", &WalkOptions::default(), &mut |_: &FileInfo| {
                visited += 1;
                Ok(WalkControl::Continue)
            })
            .await;
        (walked, visited)
    };
    let (((result, visited), _), grown) = growth(bounded("endless-walk", count)).await;
    assert_eq!(visited, 20_000, "the walk stopped at its bound");
    assert!(
        grown < MEMORY_LIMIT,
        "the walk grew the host by {grown} bytes"
    );
    let text = failed("endless-walk", result, &ErrorKind::DriverFault);
    assert!(text.contains("20000 entries"), "{text}");
    recovered(&driver, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_information_in_an_http_authority_is_refused() {
    let _shared = SERIAL.read().await;
    let listener = Untouched::new();
    let addr = listener.addr();
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.http_hosts = vec![addr.clone()];
    for authority in [
        format!("user:secret@{addr}"),
        format!("{addr}@{addr}"),
        format!("evil.example@{addr}"),
    ] {
        let (_registry, driver) =
            hostile_with(p.clone(), &[("mode", "http"), ("authority", &authority)]).await;
        let (result, _) = bounded("http", driver.get_content("/hostile")).await;
        failed(&authority, result, &ErrorKind::PermissionDenied);
        listener.assert_untouched();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_drivers_sharing_the_directory_survive_a_deep_guest_tree() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let driver = hostile(&sandbox, &[("mode", "deep-tree"), ("depth", "5000")]).await;
    let (made, _) = bounded("deep-tree", driver.get_content("/hostile")).await;
    let made = String::from_utf8(made.expect("the deep tree").to_vec()).expect("utf-8");
    assert_eq!(made, "5000 ok");

    let registry = wharf::builtin_registry();
    let data = sandbox.data();
    let native = registry
        .create(
            "filesystem",
            Params::from_pairs([("rootdirectory", data.to_string_lossy().as_ref())]),
        )
        .await
        .expect("the native driver over the guest's directory");
    let (walked, _) = bounded("native walk", walk(&native, "/")).await;
    let e = walked.expect_err("a walk 5000 directories deep");
    assert_eq!(e.kind(), &ErrorKind::Backend { temporary: false }, "{e}");
    assert!(e.to_string().contains("directories below"), "{e}");
    let (deleted, _) = bounded("native delete", native.delete("/deep")).await;
    deleted.expect("the native driver deletes the deep tree");
    assert!(!data.join("deep").exists());
    let (stat, _) = bounded("stat", native.stat("/deep")).await;
    assert!(stat.expect_err("gone").is_not_found());
}

/// Bytes of file content under `dir`.
fn content_bytes(dir: &Path) -> u64 {
    snapshot(dir)
        .values()
        .map(|c| c.as_ref().map_or(0, |c| c.len() as u64))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_quota_holds_against_every_way_of_writing() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let quota = 1u64 << 20;
    let mut p = policy(Some(&sandbox.data()));
    p.dirs[0].quota = Some(quota);
    let size = (2u64 << 20).to_string();
    let (_registry, driver) = hostile_with(p.clone(), &[("mode", "fill"), ("size", &size)]).await;
    let before = instance(&driver).await;
    let (report, _) = bounded("fill", driver.get_content("/hostile")).await;
    let report = String::from_utf8(report.expect("the fill report").to_vec()).expect("utf-8");
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    // Each way fails (wasi-libc tells a failed stream write as a plain I/O error; the
    // descriptor calls carry `insufficient-space`).
    for line in &lines {
        assert!(
            !line.ends_with(" ok"),
            "a write past the quota: {line}\n{report}"
        );
    }
    assert!(lines[1].contains("insufficient-space"), "{report}");
    assert!(lines[2].contains("insufficient-space"), "{report}");
    assert!(
        content_bytes(&sandbox.data()) <= quota,
        "{} bytes under a quota of {quota}",
        content_bytes(&sandbox.data())
    );
    // Refusals are errors the guest saw: the same instance serves on.
    assert_eq!(instance(&driver).await, before);

    // Within the quota every way works; and what is deleted is room again (after a rescan).
    for entry in std::fs::read_dir(sandbox.data()).expect("list") {
        std::fs::remove_file(entry.expect("entry").path()).expect("clear");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_registry, small) = hostile_with(p, &[("mode", "fill"), ("size", "262144")]).await;
    let (report, _) = bounded("fill within", small.get_content("/hostile")).await;
    let report = String::from_utf8(report.expect("report").to_vec()).expect("utf-8");
    assert_eq!(report, "stream ok\nwrite ok\nset-size ok\n");
    // The driver's own operations are held to it too.
    let (put, _) = bounded(
        "put past the quota",
        small.put_content("/big", vec![0u8; 1 << 20].into()),
    )
    .await;
    let e = put.expect_err("a put past the quota worked");
    assert!(
        !e.is_temporary(),
        "a full quota is no passing failure: {e:?}"
    );
    assert!(content_bytes(&sandbox.data()) <= quota);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_are_bounded_per_instance() {
    let _alone = SERIAL.write().await;
    // A server that takes connections and never answers: every request stays in flight.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let accepted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    listener.set_nonblocking(true).expect("nonblocking");
    let server = {
        let (accepted, stop) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        accepted.fetch_add(1, Ordering::AcqRel);
                        held.push(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        })
    };
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.http_hosts = vec![addr.clone()];
    p.http_requests = 8;
    let (_registry, driver) =
        hostile_with(p, &[("mode", "http-flood"), ("authority", &addr)]).await;
    let ((answer, _), grown) = growth(bounded("http-flood", driver.get_content("/hostile"))).await;
    assert!(
        grown < MEMORY_LIMIT,
        "1000 requests grew the host by {grown} bytes"
    );
    let answer = String::from_utf8(answer.expect("the flood report").to_vec()).expect("utf-8");
    assert!(
        answer.starts_with("pending=8 refused=992 other=0 first-refusal=ConnectionLimitReached"),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Release);
    server.join().expect("the server");
    assert!(
        accepted.load(Ordering::Acquire) <= 8,
        "{} connections reached the server",
        accepted.load(Ordering::Acquire)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_listings_held_at_once_are_bounded() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let driver = hostile(&sandbox, &[("mode", "listings")]).await;
    put_kept(&driver).await;
    let before = instance(&driver).await;
    let (result, _) = bounded("listings", driver.get_content("/hostile")).await;
    let text = failed("listings", result, &ErrorKind::DriverFault);
    assert!(text.contains("directory listings"), "{text}");
    recovered(&driver, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_cannot_move_out_of_a_quota_into_another_grant() {
    let _shared = SERIAL.read().await;
    let sandbox = Sandbox::new();
    let other = sandbox.root().join("other");
    std::fs::create_dir(&other).expect("other");
    let mut p = policy(Some(&sandbox.data()));
    p.dirs[0].quota = Some(1 << 20);
    p.dirs.push(DirGrant {
        host: other.clone(),
        guest: "/other".into(),
        read_only: false,
        quota: None,
    });
    let (_registry, driver) = hostile_with(p.clone(), &[("mode", "cross-move")]).await;
    let (answer, _) = bounded("cross-move", driver.get_content("/hostile")).await;
    let answer = String::from_utf8(answer.expect("the report").to_vec()).expect("utf-8");
    assert!(answer.contains("device"), "{answer}");
    assert!(!other.join("moved").exists());
    // Without a quota on either side the move is an ordinary one.
    p.dirs[0].quota = None;
    let (_registry, driver) = hostile_with(p.clone(), &[("mode", "cross-move")]).await;
    let (answer, _) = bounded("cross-move", driver.get_content("/hostile")).await;
    assert_eq!(answer.expect("the report"), "ok".as_bytes());
    // Two grants at one guest path are refused.
    p.dirs[1].guest = GUEST_DATA.into();
    let mut registry = DriverRegistry::new();
    register_guest(&mut registry, "twice", component().await, p).expect("register");
    let (created, _) = bounded("twice", registry.create("twice", Params::new())).await;
    let text = failed(
        "twice",
        created.map(|_| ()),
        &ErrorKind::InvalidParameter { key: "dirs".into() },
    );
    assert!(text.contains("two directories"), "{text}");
}

/// What reached a one-shot server on loopback: the request's head, if anyone came.
struct OneShot {
    addr: String,
    port: u16,
    server: std::thread::JoinHandle<Option<String>>,
}

impl OneShot {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let server = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking");
                        let mut request = [0; 4096];
                        let n = stream.read(&mut request).unwrap_or(0);
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        );
                        return Some(String::from_utf8_lossy(&request[..n]).into_owned());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            None
        });
        Self {
            addr: format!("127.0.0.1:{port}"),
            port,
            server,
        }
    }

    fn reached(self) -> Option<String> {
        self.server.join().expect("the server thread")
    }
}

/// `GET` of `authority` (over `scheme`) from the hostile guest under an allow-list of `grants`.
async fn get_through(grants: Vec<String>, authority: &str, scheme: &str) -> Result<bytes::Bytes> {
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.http_hosts = grants;
    let (_registry, driver) = hostile_with(
        p,
        &[
            ("mode", "http"),
            ("authority", authority),
            ("scheme", scheme),
        ],
    )
    .await;
    bounded("http", driver.get_content("/hostile")).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_is_granted_in_one_spelling_and_one_scheme_only() {
    let _shared = SERIAL.read().await;
    let server = OneShot::new();
    let port = server.port;
    for (authority, scheme) in [
        (format!("127.1:{port}"), "http"),
        (format!("2130706433:{port}"), "http"),
        (format!("0x7f000001:{port}"), "http"),
        (format!("0177.0.0.1:{port}"), "http"),
        (format!("localhost:{port}"), "http"),
        (format!("127.0.0.1:{}", port.wrapping_add(1)), "http"),
        (format!("127.0.0.1:{port}"), "https"),
    ] {
        let got = get_through(vec![format!("http://127.0.0.1:{port}")], &authority, scheme).await;
        failed(
            &format!("{scheme}://{authority}"),
            got,
            &ErrorKind::PermissionDenied,
        );
    }
    assert_eq!(
        server.reached(),
        None,
        "a refused request reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_name_that_leads_to_loopback_is_refused_unless_the_address_is_granted() {
    let _shared = SERIAL.read().await;
    let server = OneShot::new();
    let name = format!("localhost:{}", server.port);
    let got = get_through(vec![name.clone()], &name, "http").await;
    let text = failed("localhost only", got, &ErrorKind::PermissionDenied);
    assert!(text.contains("refused by the sandbox"), "{text}");
    assert_eq!(
        server.reached(),
        None,
        "a refused request reached the server"
    );

    // With the address itself on the list, the name works, is sent to that address, and keeps
    // its name in the Host header.
    let server = OneShot::new();
    let name = format!("localhost:{}", server.port);
    let got = get_through(vec![name.clone(), server.addr.clone()], &name, "http").await;
    assert_eq!(got.expect("granted").as_ref(), b"200 ok");
    let head = server.reached().expect("the request reached the server");
    assert!(
        head.to_ascii_lowercase().contains(&format!("host: {name}")),
        "{head}"
    );
}

/// A server on loopback that accepts connections and then does `behaviour` with each until
/// told to stop: what a slow, silent or flooding backend does to the host.
pub(crate) struct Backend {
    pub(crate) addr: String,
    stop: Arc<AtomicBool>,
    server: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone, Copy)]
pub(crate) enum Behaviour {
    /// Never reads, never answers.
    Silent,
    /// Answers 200 with a 1 GiB body, written as fast as the connection takes it.
    Flood,
    /// Answers 200 with a 1 GiB body of which it sends 10 bytes, then nothing.
    Stall,
}

impl Backend {
    pub(crate) fn new(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            if let Behaviour::Flood | Behaviour::Stall = behaviour {
                                // The answer follows the request (an answer before it is a
                                // protocol error to the client).
                                read_request_head(&mut stream);
                                let _ = stream.write_all(
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n",
                                );
                                if let Behaviour::Stall = behaviour {
                                    let _ = stream.write_all(b"0123456789");
                                }
                                stream.set_nonblocking(true).expect("nonblocking");
                            }
                            held.push(stream);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                    if let Behaviour::Flood = behaviour {
                        let zeros = [0u8; 64 << 10];
                        for stream in &mut held {
                            // Stops at the first would-block: the reader is not reading.
                            while stream.write(&zeros).is_ok_and(|n| n > 0) {}
                        }
                    }
                }
            })
        };
        Self {
            addr,
            stop,
            server: Some(server),
        }
    }
}

/// Reads from `stream` until the end of a request's head (or 5 s, or the peer goes).
fn read_request_head(stream: &mut std::net::TcpStream) {
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_backend_ends_in_timeout_at_the_deadline() {
    let _shared = SERIAL.read().await;
    let backend = Backend::new(Behaviour::Silent);
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.http_hosts = vec![backend.addr.clone()];
    let (_registry, driver) =
        hostile_with(p, &[("mode", "http"), ("authority", &backend.addr)]).await;
    put_kept(&driver).await;
    let before = instance(&driver).await;
    let (result, _) = bounded("silent backend", driver.get_content("/hostile")).await;
    let text = failed("silent backend", result, &ErrorKind::Timeout);
    assert!(text.contains("deadline"), "{text}");
    recovered(&driver, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_response_bodies_and_unfinished_request_bodies_are_not_buffered() {
    let _alone = SERIAL.write().await;
    // A 1 GiB answer the guest never reads.
    let backend = Backend::new(Behaviour::Flood);
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.http_hosts = vec![backend.addr.clone()];
    let (_registry, driver) = hostile_with(
        p.clone(),
        &[("mode", "http-unread"), ("authority", &backend.addr)],
    )
    .await;
    let ((result, _), grown) = growth(bounded("unread body", driver.get_content("/hostile"))).await;
    assert_eq!(result.expect("the status").as_ref(), b"200");
    assert!(
        grown < MEMORY_LIMIT,
        "an unread body grew the host by {} MiB",
        grown >> 20
    );
    drop(backend);

    // A request body written without end to a backend that reads nothing: the guest blocks
    // once the host's buffer is full, and its deadline ends the call.
    let backend = Backend::new(Behaviour::Silent);
    p.http_hosts = vec![backend.addr.clone()];
    let size = (1u64 << 30).to_string();
    let (_registry, driver) = hostile_with(
        p,
        &[
            ("mode", "http-unfinished"),
            ("authority", &backend.addr),
            ("size", &size),
        ],
    )
    .await;
    let ((result, _), grown) =
        growth(bounded("unfinished body", driver.get_content("/hostile"))).await;
    failed("unfinished body", result, &ErrorKind::Timeout);
    assert!(
        grown < MEMORY_LIMIT,
        "an unfinished body grew the host by {} MiB",
        grown >> 20
    );
}
