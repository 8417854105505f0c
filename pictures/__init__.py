"""Pictures to MNIST-style 28x28 digits: opening uploads safely and finding the digit in a photo or drawing.

Nothing here knows of VAEs: it takes a picture and the box side the digit should fill, and returns pixels.
"""
