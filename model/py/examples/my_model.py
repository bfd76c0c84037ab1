"""my_model.py — the detector of torchvision's object detection tutorial: MobileNetV2's
features as a single-map backbone, one anchor level, a 2-class (+ background) predictor.

README's "Bring your own model" walks from here to `vdetect view`:

    python3 model/py/examples/my_model.py            # writes my_model.pth (see below)

Train it as you would (torchvision's detection references, your own loop); this script
stands in for the training and saves the untrained, seeded weights, so the rest of the
walk-through runs as written. The exporter rebuilds the model with build() and loads the
state_dict into it (--build my_model:build --state-dict my_model.pth).
"""

import torch
import torchvision
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign


def build():
    backbone = torchvision.models.mobilenet_v2(weights=None).features
    backbone.out_channels = 1280
    anchors = AnchorGenerator(sizes=((32, 64, 128, 256, 512),), aspect_ratios=((0.5, 1.0, 2.0),))
    roi_pooler = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    return FasterRCNN(backbone, num_classes=3, rpn_anchor_generator=anchors,
                      box_roi_pool=roi_pooler, min_size=480, max_size=800)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = build()
    # ... train here ...
    torch.save(model.state_dict(), "my_model.pth")
    print("my_model.pth: %d tensors" % len(model.state_dict()))
