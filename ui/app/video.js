// Draws I420 pictures from the app on a canvas: three single-channel textures and a shader
// that turns YUV into RGB on the GPU (drawing the planes in JavaScript cost WebKit a core
// and more at 720p, docs/traps.md).
//
// A picture arrives as an ArrayBuffer: width (u32 LE), height (u32 LE), then Y, U, V.

const VERTEX = `
attribute vec2 position;
varying vec2 uv;
void main() {
  uv = vec2((position.x + 1.0) / 2.0, (1.0 - position.y) / 2.0);
  gl_Position = vec4(position, 0.0, 1.0);
}`;

// BT.601 limited range, what libvpx decodes to.
const FRAGMENT = `
precision mediump float;
varying vec2 uv;
uniform sampler2D y;
uniform sampler2D u;
uniform sampler2D v;
void main() {
  float Y = 1.164 * (texture2D(y, uv).r - 0.0625);
  float U = texture2D(u, uv).r - 0.5;
  float V = texture2D(v, uv).r - 0.5;
  gl_FragColor = vec4(Y + 1.596 * V, Y - 0.392 * U - 0.813 * V, Y + 2.017 * U, 1.0);
}`;

export class I420Canvas {
  constructor(canvas) {
    this.canvas = canvas;
    // No preserved drawing buffer: keeping it costs WebKit a copy of every picture.
    const gl = canvas.getContext("webgl", { antialias: false, depth: false, stencil: false });
    if (!gl) throw new Error("WebGL is not available: video cannot be shown");
    this.gl = gl;
    const program = gl.createProgram();
    for (const [type, source] of [[gl.VERTEX_SHADER, VERTEX], [gl.FRAGMENT_SHADER, FRAGMENT]]) {
      const shader = gl.createShader(type);
      gl.shaderSource(shader, source);
      gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
        throw new Error(`video shader: ${gl.getShaderInfoLog(shader)}`);
      }
      gl.attachShader(program, shader);
    }
    gl.linkProgram(program);
    gl.useProgram(program);
    const quad = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, quad);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const position = gl.getAttribLocation(program, "position");
    gl.enableVertexAttribArray(position);
    gl.vertexAttribPointer(position, 2, gl.FLOAT, false, 0, 0);
    this.textures = ["y", "u", "v"].map((name, i) => {
      const texture = gl.createTexture();
      gl.activeTexture(gl.TEXTURE0 + i);
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      gl.uniform1i(gl.getUniformLocation(program, name), i);
      return texture;
    });
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    this.drawn = 0;
    this.width = 0;
    this.height = 0;
    // A cheap fingerprint of the last picture (sampled luma), so tests and the stats view
    // can tell moving video from a frozen one.
    this.fingerprint = 0;
    // The mean luma of the same samples (0-255): a lip-sync test finds the flashes by it.
    this.brightness = 0;
  }

  /** Draws one picture; returns false when the buffer is not one. */
  draw(buffer) {
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < 8) return false;
    const header = new DataView(buffer, 0, 8);
    const width = header.getUint32(0, true);
    const height = header.getUint32(4, true);
    const cw = (width + 1) >> 1;
    const ch = (height + 1) >> 1;
    const ySize = width * height;
    const cSize = cw * ch;
    if (buffer.byteLength < 8 + ySize + 2 * cSize) return false;
    const gl = this.gl;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    gl.viewport(0, 0, width, height);
    const planes = [
      [new Uint8Array(buffer, 8, ySize), width, height],
      [new Uint8Array(buffer, 8 + ySize, cSize), cw, ch],
      [new Uint8Array(buffer, 8 + ySize + cSize, cSize), cw, ch],
    ];
    // Textures are allocated when the size changes and only refilled otherwise.
    const resized = this.width !== width || this.height !== height;
    planes.forEach(([data, w, h], i) => {
      gl.activeTexture(gl.TEXTURE0 + i);
      gl.bindTexture(gl.TEXTURE_2D, this.textures[i]);
      if (resized) {
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, w, h, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
      } else {
        gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, h, gl.LUMINANCE, gl.UNSIGNED_BYTE, data);
      }
    });
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    const y = planes[0][0];
    let sum = 0;
    let light = 0;
    let samples = 0;
    for (let i = 0; i < ySize; i += 997) {
      sum = (sum + y[i] * (i + 1)) % 1000000007;
      light += y[i];
      samples += 1;
    }
    this.fingerprint = sum;
    this.brightness = samples ? light / samples : 0;
    this.width = width;
    this.height = height;
    this.drawn += 1;
    return true;
  }
}
