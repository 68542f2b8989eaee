//! Dumps an EncodingUnit file as JSON (debugging aid).
fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: wmio_dump FILE [offset]");
    let off: usize = std::env::args()
        .nth(2)
        .map_or(0, |s| s.parse().expect("offset"));
    let data = std::fs::read(path).expect("read");
    match winv_wmio::decode_encoding_unit(&data[off..]) {
        Ok(o) => println!(
            "{}",
            serde_json::to_string_pretty(&winv_wmio::to_json(&o)).expect("json")
        ),
        Err(e) => println!("error: {e}"),
    }
}
