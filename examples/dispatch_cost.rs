use std::time::Instant;
use winsor::gpu::trainer::TrainerSpec;
use winsor::gpu::{Gpu, GpuTrainer, Kernels};
fn main() {
    let g = Gpu::new(None).unwrap();
    let k = Kernels::new(&g).unwrap();
    let mut data = winsor::data::builtin_mnist().unwrap();
    if std::env::args().nth(1).as_deref() == Some("small") {
        data.train = data.train.head(1000);
        data.test = data.test.head(1000);
    }
    let widths = vec![784, 256, 256, 256, 10];
    let init = winsor::model::Params::init(&widths, winsor::model::Init::Code, 0);
    let t = GpuTrainer::new(
        &g,
        &k,
        &data,
        &data.train.labels,
        &init,
        TrainerSpec {
            batch: 100,
            rule: winsor::rule::Rule::Mean,
            lr: 0.1,
            eval_chunk: 1,
        },
    )
    .unwrap();
    let b: Vec<u32> = (0..100).collect();
    for _ in 0..3 {
        let p = t.profile_step(&b).unwrap();
        let s: Vec<String> = p
            .iter()
            .map(|(n, x)| format!("{n}:{:.1}", x * 1e3))
            .collect();
        println!("{}", s.join(" "));
    }
    let tt = Instant::now();
    t.train(&vec![b.clone(); 20]).unwrap();
    println!(
        "train: {:.1} ms/step",
        tt.elapsed().as_secs_f64() * 1e3 / 20.0
    );
}
