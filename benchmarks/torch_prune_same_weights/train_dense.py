# Train the dense LeNet-5 exactly as benchmarks/torch_prune_baseline.py does (seed 0) and save it.
import sys, time, torch
sys.path.insert(0, "/work/main/benchmarks"); sys.path.insert(0, "/work/main/tools")
import torch_prune_baseline as b
from torch_roundtrip import save_safetensors
torch.set_num_threads(1)
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
train, test = b.load("/usr/share/datasets/fashion-mnist", "train"), b.load("/usr/share/datasets/fashion-mnist", "test")
torch.manual_seed(seed)
model = b.LeNet5()
t = time.time()
EPOCHS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
b.run_epochs(model, train, EPOCHS, 0.05, 5e-4, seed)
print("dense", seed, b.accuracy(model, test), time.time() - t, flush=True)
torch.save(model.state_dict(), f"/work/scratch/gap/dense_s{seed}_e{EPOCHS}.pt")
save_safetensors(f"/work/scratch/gap/dense_s{seed}_e{EPOCHS}.safetensors", model.state_dict())
