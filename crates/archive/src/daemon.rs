//! todo
pub async fn run() {}
