//! Write the default demo week into a folder: `cargo run -p wardwatch-demo --example generate -- DIR [SEED]`.

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "demo-week".into());
    let mut cfg = wardwatch_demo::DemoConfig::default();
    if let Some(seed) = args.next().and_then(|s| s.parse().ok()) {
        cfg.seed = seed;
    }
    let summary = wardwatch_demo::write_files(&cfg, std::path::Path::new(&dir))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).map_err(std::io::Error::other)?
    );
    Ok(())
}
