export * from './select';
export { registerConv2DBackpropFilter } from './kernels/conv2d-backprop-filter';
export { registerConv2DBackpropInput } from './kernels/conv2d-backprop-input';
export { registerFastBatchMatMul } from './kernels/batch-matmul';
