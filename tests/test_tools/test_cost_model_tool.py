# Copyright (c) s4m-mm authors. All rights reserved.
"""tools/analysis/cost_model.py on the demo student at 64 px with a
one-block SAM: the per-image counts scale with the batch, and the report's
parts add up to its totals and ratios."""
import importlib.util
import json
import os.path as osp
import sys

import pytest
import torch

from s4m_mm.analysis.benchmark import build_model, load_config
from s4m_mm.analysis.flops import count_flops

STUDENT = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
HW = (64, 64)


def load_tool(repo_root):
    path = osp.join(repo_root, 'tools/analysis/cost_model.py')
    spec = importlib.util.spec_from_file_location('cost_model_tool', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_one_image_counts_scale_with_the_batch(repo_root):
    tool = load_tool(repo_root)
    cfg = load_config(osp.join(repo_root, STUDENT))
    cfg.model.refiner = None
    torch.manual_seed(0)
    model = build_model(cfg.model)
    forward, upsample = tool.teacher_flops(model, HW)
    two = count_flops(tool.teacher_forward(model), torch.randn(2, 3, *HW),
                      [tool.sample_with_instances(HW, 1) for _ in range(2)])
    assert forward > 0 and two.total == 2 * forward
    # 16 x 16 logits to 64 x 64, bilinear: 7 FLOPs a value
    assert upsample == 7 * 64 * 64
    step = tool.student_step_flops(model, HW, 3)

    def two_images():
        samples = [tool.sample_with_instances(HW, 3) for _ in range(2)]
        losses = model.student.loss(torch.randn(2, 3, *HW), samples)
        model.parse_losses(losses)[0].backward()

    # the backward pass is counted (more than the forward again)
    assert step > 2 * count_flops(model.student.loss, torch.randn(1, 3, *HW),
                                  [tool.sample_with_instances(HW, 3)]).total
    assert count_flops(two_images).total == 2 * step


def test_report_parts_add_up(repo_root, tmp_path, monkeypatch, capsys):
    tool = load_tool(repo_root)
    out = str(tmp_path / 'cost.json')
    monkeypatch.chdir(repo_root)
    monkeypatch.setattr(sys, 'argv', [
        'cost_model.py', STUDENT, '--sam-types', 'vit_b', '--sam-options',
        'img_size=64', 'encoder_depth=1', '--input-size', '64', '64',
        '--source-size', '48', '64', '--unlabeled-images', '30',
        '--instances-per-image', '2.5', '--out', out
    ])
    tool.main()
    printed = capsys.readouterr().out
    with open(out) as f:
        report = json.load(f)
    it = report['iteration']
    # the demo's batch of 6: 3 + 3 (source_ratio 1:1), 100 iterations, one
    # GPU
    assert (it['labeled'], it['unlabeled'], it['iterations'],
            it['gpus']) == (3, 3, 100, 1)
    det = report['detector']
    mean_teacher = report['mean_teacher']['parts']
    assert mean_teacher['teacher'] == pytest.approx(
        3 * (det['teacher_forward_per_image'] +
             2.5 * det['selected_upsample_per_instance']))
    assert mean_teacher['student'] == 6 * det['student_step_per_image']
    assert mean_teacher['ema'] == 3 * det['teacher_ema_elements']
    assert set(mean_teacher) == {'teacher', 'strong_aug', 'student',
                                 'optimizer', 'ema'}
    sam = report['sams']['vit_b']
    # a 64 px ViT-B embeds 256 x 4 x 4, stored in float16
    assert sam['store_bytes_per_image'] == 256 * 4 * 4 * 2
    assert sam['store_bytes_per_iteration'] == 3 * 256 * 4 * 4 * 2
    # the warp: the 64 x 64 grid mapped by the 3 x 3 homography (2 x 9
    # FLOPs a pixel) once, then 7 FLOPs a pixel of each mask
    assert sam['warp_gflops']['per_image'] * 1e9 == pytest.approx(
        2 * 9 * 64 * 64)
    assert sam['warp_gflops']['per_mask'] * 1e9 == pytest.approx(7 * 64 * 64)
    view, store = sam['s4m_view']['parts'], sam['s4m_store']['parts']
    assert view['sam_encoder'] == pytest.approx(
        3 * sam['encoder_gflops_per_view'] * 1e9)
    dec = sam['decoder_view_gflops']
    assert view['sam_decoder'] == pytest.approx(
        3 * (dec['per_image'] + 2.5 * dec['per_prompt']) * 1e9)
    assert 'sam_encoder' not in store
    # 30 images encoded once over 100 iterations of 1 GPU
    assert store['store_fill'] == pytest.approx(
        sam['encoder_gflops_per_source_image'] * 1e9 * 30 / 100)
    for parts in (view, store):
        assert {k: parts[k] for k in mean_teacher} == mean_teacher
    for key in ('s4m_view', 's4m_store'):
        method = sam[key]
        assert method['total'] == pytest.approx(sum(method['parts'].values()))
        assert method['over_mean_teacher'] == pytest.approx(
            method['total'] / report['mean_teacher']['total'])
    ratios = printed.split('/ mean teacher')[1].split()[:3]
    assert ratios == [
        '1.00x', f'{sam["s4m_view"]["over_mean_teacher"]:.2f}x',
        f'{sam["s4m_store"]["over_mean_teacher"]:.2f}x'
    ]
