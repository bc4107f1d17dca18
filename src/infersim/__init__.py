"""infersim: first-principles simulator of inference hardware performance and cost.

Spec files (hardware_specs/, workloads/) -> strict specs -> packed arrays -> numba kernels
-> prefill/decode model -> cost -> sweeps and questions -> reports. docs/architecture.md in the
repository explains the layout.
"""

__version__ = "0.1.0"
