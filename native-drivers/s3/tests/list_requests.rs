//! What a walk costs: 10 000 keys walked with the native walk, counting the ListObjectsV2
//! requests the driver sends (S3 returns at most 1000 keys per page, so about ten).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use wharf_runtime::{WalkControl, WalkOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walking_10000_keys_costs_about_ten_list_requests() {
    let bucket = common::moto_bucket("walk10k").await;
    let extra = [("rootdirectory", "registry")];
    let writer = common::moto_driver(&bucket, &extra).await;
    // A registry-like tree: repositories, their layer links, and blob data.
    let files: Arc<Vec<String>> = Arc::new(
        (0..10_000)
            .map(|i| match i % 2 {
                0 => format!(
                    "/docker/registry/v2/blobs/sha256/{:02x}/{i:064x}/data",
                    i % 256
                ),
                _ => format!(
                    "/docker/registry/v2/repositories/repo-{}/_layers/sha256/{i:064x}/link",
                    i % 50
                ),
            })
            .collect(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..16 {
        let (writer, files) = (writer.clone(), files.clone());
        tasks.spawn(async move {
            for f in files.iter().skip(t).step_by(16) {
                writer
                    .put_content(f, Bytes::from_static(b"x"))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }

    let (counted, d) = common::moto_driver_counted(&bucket, &extra).await;
    let mut seen_files = 0usize;
    let mut seen = 0usize;
    d.walk("/", &WalkOptions::default(), &mut |info| {
        seen += 1;
        seen_files += usize::from(!info.is_dir);
        Ok(WalkControl::Continue)
    })
    .await
    .unwrap();
    let requests = counted.requests().snapshot();
    let lists = requests.get("ListObjectsV2").copied().unwrap_or(0);
    println!(
        "walk of 10000 keys ({seen} entries): {lists} ListObjectsV2 requests; all: {requests:?}"
    );
    assert_eq!(seen_files, 10_000);
    assert!(
        (10..=11).contains(&lists),
        "{lists} list requests for 10000 keys"
    );
    assert_eq!(
        requests.values().sum::<u64>(),
        lists,
        "the walk sent nothing but listings"
    );
}
