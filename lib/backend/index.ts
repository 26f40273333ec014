export * from './select';
export { registerConv2DBackpropFilter } from './kernels/conv2d-backprop-filter';
