# fastconv._activation: element-wise activations and maxout over flat buffers.
